"""A test double of OpenNebula's `oned`: one in-memory model behind XML-RPC, a SCHED_MAD harness and ZeroMQ.

OpenNebula cannot be installed on this machine, so Galerna's OpenNebula mode is tested against this double. Each
behaviour follows OpenNebula's own sources (see tests/opennebula/README.md for the file each one follows), and every
document it serves validates against OpenNebula's XSDs in the test suite.
"""
