"""Read Haizea configuration files (INI) as they are, into Galerna's ``Config``.

So that Haizea experiments can be rerun unchanged, every option Haizea ever
documented (1.0/1.1, and the older names used by its technology previews and
the Blue Horizon experiments) is either mapped, ignored on purpose with a
note (logging, accounting output, persistence) or reported with a warning
naming the option when Galerna cannot honour it. Unknown sections and
options are warnings, never errors; an invalid value of a known option (say
``backfilling: sometimes``) is a ConfigError, as it was in Haizea.

Conversions worth knowing:

* Where Haizea's default differs from Galerna's, an absent option gets
  Haizea's default: no preemption (``policy-preemption`` defaults to
  ``no-preemption`` in Haizea 1.x; files older than 1.0 always let ARs
  preempt), 10 s ``non-schedulable-interval``, backfilling off.
* ``imagetransfer-bandwidth`` is Mbps in Haizea; Galerna uses MB/s (÷ 8),
  for image transfers and for migrations alike.
* ``runtime-slowdown-overhead`` and ``bootshutdown-overhead`` only act, as in
  Haizea, when ``add-overhead`` is ``all`` or ``besteffort`` (Galerna applies
  them to all leases); older files (``runtime-overhead``) always applied them.
  ``bootshutdown-overhead`` becomes ``boot_overhead``.
* ``starttime`` (``YYYY-MM-DD HH:MM:SS``) becomes POSIX seconds, read as UTC.
* Relative trace paths are resolved against the configuration file's folder.
"""
from galerna.config.haizea.importer import HaizeaImport, parse_haizea_config, read_haizea_config

__all__ = ["HaizeaImport", "parse_haizea_config", "read_haizea_config"]
