"""Galerna's OpenNebula mode: OpenNebula's hosts and VMs as the daemon's only enactment.

``config`` holds the ``[opennebula]`` section, ``credentials`` OpenNebula's
ONE_AUTH conventions, ``templates`` the HAIZEA/GALERNA vectors, ``client`` a
thin pyone client, ``driver`` the enactment driver, ``sched_mad`` the
OpenNebula 7 scheduler driver program, ``events`` the ZeroMQ subscriber and
reconciliation. See docs/opennebula.md.
"""
