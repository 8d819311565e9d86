"""Configuration loading: the sample TOML, overrides, readable errors, Haizea INI files."""
from __future__ import annotations

import tomllib
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pydantic import BaseModel

from galerna.config.haizea import parse_haizea_config, read_haizea_config
from galerna.config.load import ConfigError, detect_format, load_config, load_config_full, parse_override
from galerna.config.schema import Backfilling, Config, MigrationMode, Preemption, TransferMode

SAMPLE = Path(__file__).resolve().parents[1] / "galerna" / "config" / "sample.toml"


# ---------------------------------------------------------------- sample.toml


def _fields(model: type[BaseModel], prefix: str = "") -> set[str]:
    out = set()
    for name, f in model.model_fields.items():
        if isinstance(f.annotation, type) and issubclass(f.annotation, BaseModel):
            out |= _fields(f.annotation, f"{prefix}{name}.")
        else:
            out.add(prefix + name)
    return out


def _keys(data: dict, prefix: str = "") -> set[str]:
    out = set()
    for k, v in data.items():
        if isinstance(v, dict) and prefix == "":
            out |= _keys(v, f"{k}.")
        else:
            out.add(prefix + k)
    return out


def test_sample_equals_defaults():
    assert load_config(SAMPLE, []) == Config()


def test_sample_shows_every_option():
    """Every option is set in the sample, except those unset by default (TOML has no null): commented out."""
    text = SAMPLE.read_text()
    unset = {f"{sec}.{name}" for sec, f in Config.model_fields.items()
             for name, g in f.annotation.model_fields.items() if g.default is None}
    assert _keys(tomllib.loads(text)) == _fields(Config) - unset
    for dotted in unset:
        assert f"# {dotted.split('.')[1]} = " in text, dotted


def test_sample_explains_every_option():
    for line in SAMPLE.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            assert "#" in line, f"option without an explanation: {line}"


# ---------------------------------------------------------------- TOML and overrides


def test_no_file_means_defaults():
    assert load_config(None, []) == Config()


def test_toml_file_and_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[scheduling]\nbackfilling = "aggressive"\nsuspend_rate = 50\n[site]\nnodes = 8\n')
    c = load_config(p, ["site.nodes=144", "scheduling.migration=yes-notransfer", "simulation.progress=false",
                        "site.extra.disk=20000", 'imagetransfer.preparation="imagetransfer"'])
    assert c.scheduling.backfilling is Backfilling.AGGRESSIVE and c.scheduling.suspend_rate == 50
    assert c.site.nodes == 144 and c.site.extra == {"disk": 20000.0}
    assert c.scheduling.migration is MigrationMode.YES_NOTRANSFER and c.simulation.progress is False
    assert c.imagetransfer.preparation.value == "imagetransfer"


@pytest.mark.parametrize("text,keys,value", [
    ("site.nodes=12", ["site", "nodes"], 12),
    ("simulation.progress=true", ["simulation", "progress"], True),
    ("scheduling.backfilling=off", ["scheduling", "backfilling"], "off"),
    ("scheduling.suspend_rate = 2.5", ["scheduling", "suspend_rate"], 2.5),
    ('site.extra={disk = 1}', ["site", "extra"], {"disk": 1}),
])
def test_parse_override(text, keys, value):
    assert parse_override(text) == (keys, value)


@pytest.mark.parametrize("bad", ["nodes=3", "site.nodes", ".x=1", "site..nodes=1"])
def test_bad_override_syntax(bad):
    with pytest.raises(ConfigError, match="expected section.key=value"):
        parse_override(bad)


def test_errors_name_file_key_and_problem(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[scheduling]\nbackfiling = "off"\nsuspend_rate = -1\n')
    with pytest.raises(ConfigError) as err:
        load_config(p, [])
    lines = str(err.value).splitlines()
    assert any(l.startswith(f"{p}: scheduling.backfiling: unknown option (valid: backfilling,") for l in lines)
    assert any(l.startswith(f"{p}: scheduling.suspend_rate: Input should be greater than 0") for l in lines)
    assert isinstance(err.value, ValueError) and len(err.value.problems) == 2


def test_override_errors_say_so(tmp_path):
    with pytest.raises(ConfigError, match=r"scheduling\.backfilling: Input should be 'off'.*\(from --set\)"):
        load_config(None, ["scheduling.backfilling=sometimes"])
    with pytest.raises(ConfigError, match=r"nosuch: unknown section \(valid: site, scheduling.*\(from --set\)"):
        load_config(None, ["nosuch.key=1"])
    p = tmp_path / "c.toml"
    p.write_text("[site]\nnodes = 3\n")
    with pytest.raises(ConfigError, match=rf"{p}: site\.nodes: is a value, not a section"):
        load_config(p, ["site.nodes.x=1"])


def test_toml_syntax_error_has_line(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text("[site]\nnodes = \n")
    with pytest.raises(ConfigError, match=rf"{p}: TOML syntax error: .*line 2"):
        load_config(p, [])


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "nope.toml", [])


def test_format_detection(tmp_path):
    assert detect_format(Path("x.toml"), "") == "toml"
    assert detect_format(Path("x.conf"), "") == "haizea"
    assert detect_format(Path("x"), "[general]\nmode: simulated\n") == "haizea"
    assert detect_format(Path("x"), "[site]\nnodes = 3\n") == "toml"


# ---------------------------------------------------------------- Haizea INI

# Haizea 1.1's etc/sample_trace.conf, comments left out, with its commented
# options switched on.
HAIZEA_SAMPLE = """
[general]
loglevel: INFO
logfile: /var/tmp/haizea.log
mode: simulated
lease-preparation: imagetransfer
lease-failure-handling: cancel
persistence-file: none

[scheduling]
mapper: greedy
policy-admission: accept-all
policy-preemption: ar-preempts-everything
policy-host-selection: greedy
policy-pricing: free
wakeup-interval: 10
backfilling: intermediate
backfilling-reservations: 4
suspension: serial-only
suspend-rate: 32
resume-rate: 64
suspendresume-exclusion: global
scheduling-threshold-factor: 2
migration: yes
non-schedulable-interval: 00:00:20.00
shutdown-time: 00:00:05
enactment-overhead: 2

[simulation]
clock: simulated
starttime: 2006-11-25 13:00:00
resources: 4  CPU:100 Memory:1024 Disk:20000
imagetransfer-bandwidth: 100
stop-when: besteffort-done
status-message-interval: 15
sanity-check: False

[accounting]
datafile: /var/tmp/haizea/results.dat
probes: ar best-effort immediate cpu-utilization

[deploy-imagetransfer]
transfer-mechanism: multicast
avoid-redundant-transfers: True
diskimage-reuse: image-caches
diskimage-cache-size: 20480

[tracefile]
tracefile: traces/sample.lwf
injectionfile: /usr/share/haizea/traces/multi/inj1.lwf
add-overhead: all
runtime-slowdown-overhead: 5
bootshutdown-overhead: 00:00:20
override-memory: -1
"""


def test_haizea_sample_maps_every_option(tmp_path):
    p = tmp_path / "sample_trace.conf"
    p.write_text(HAIZEA_SAMPLE)
    r = read_haizea_config(p)
    c = r.config
    assert r.warnings == []
    s = c.scheduling
    assert (s.backfilling, s.backfilling_reservations) == (Backfilling.INTERMEDIATE, 4)
    assert (s.suspension.value, s.suspend_rate, s.resume_rate, s.suspendresume_exclusion.value) == (
        "serial-only", 32, 64, "global")
    assert (s.scheduling_threshold.value, s.scheduling_threshold_value) == ("factor", 2)
    assert s.preemption is Preemption.AR_PREEMPTS_EVERYTHING and s.migration is MigrationMode.YES
    assert (s.non_schedulable_interval, s.shutdown_time, s.enactment_overhead) == (20, 5, 2)
    assert (s.runtime_slowdown_overhead, s.boot_overhead) == (5, 20)
    assert s.migration_bandwidth == 12.5  # 100 Mbps
    assert (c.site.nodes, c.site.cpu, c.site.memory, c.site.extra) == (4, 1.0, 1024, {"disk": 20000})
    it = c.imagetransfer
    assert (it.preparation.value, it.transfer_mode, it.bandwidth, it.reuse, it.cache_size) == (
        "imagetransfer", TransferMode.MULTICAST, 12.5, True, 20480)
    assert c.simulation.stop_when == "all-best-effort-done"
    assert c.simulation.starttime == datetime(2006, 11, 25, 13, tzinfo=timezone.utc).timestamp()
    assert r.tracefile == tmp_path / "traces" / "sample.lwf"  # relative to the .conf
    assert r.injectionfile == Path("/usr/share/haizea/traces/multi/inj1.lwf") and r.annotationfile is None
    assert any("loglevel" in n for n in r.notes) and any("datafile" in n for n in r.notes)


def test_haizea_through_load_config_with_overrides(tmp_path):
    p = tmp_path / "h.conf"
    p.write_text(HAIZEA_SAMPLE)
    loaded = load_config_full(p, ["site.nodes=16", "scheduling.backfilling=off"])
    assert loaded.format == "haizea" and loaded.config.site.nodes == 16
    assert loaded.config.scheduling.backfilling is Backfilling.OFF
    assert loaded.config.scheduling.resume_rate == 64  # the rest of the INI file is kept
    assert loaded.tracefile == tmp_path / "traces" / "sample.lwf"


def test_haizea_defaults_where_they_differ_from_ours():
    r = parse_haizea_config("[general]\nmode: simulated\n[scheduling]\nsuspension: all\n", "x.conf")
    s = r.config.scheduling
    assert s.preemption is Preemption.NONE  # Haizea 1.x default: no-preemption
    assert s.non_schedulable_interval == 10 and s.backfilling is Backfilling.OFF
    assert any("no-preemption" in n for n in r.notes)


# Options as the Blue Horizon experiments (before Haizea 1.0) wrote them.
HAIZEA_LEGACY = """
[general]
loglevel: STATUS
backfilling: aggressive
suspension: all
migration: True
migrate: mem+vm
transfer: multicast
reuse: cowpool
maxpool: 20480
avoid-redundant-transfers: True

[simulation]
starttime: 2006-11-25 13:00:00
nodes: 144
resources: CPU,1;Mem,1024;Net (in),100;Net (out),100;Disk,20000
bandwidth: 100
stop-when: best-effort-done
suspendresume-rate: 50
suspend-threshold-factor: 1
runtime-overhead: 5
bootshutdown-overhead: 20
"""


def test_haizea_legacy_options():
    r = parse_haizea_config(HAIZEA_LEGACY, "blue.conf")
    c = r.config
    assert r.warnings == []
    assert (c.site.nodes, c.site.cpu, c.site.memory) == (144, 1.0, 1024)
    assert c.site.extra == {"net-in": 100, "net-out": 100, "disk": 20000}
    s = c.scheduling
    assert s.preemption is Preemption.AR_PREEMPTS_EVERYTHING  # ARs always preempted before 1.0
    assert (s.suspend_rate, s.resume_rate, s.migration) == (50, 50, MigrationMode.YES)
    assert (s.runtime_slowdown_overhead, s.boot_overhead) == (5, 20)
    assert (c.imagetransfer.preparation.value, c.imagetransfer.transfer_mode, c.imagetransfer.reuse) == (
        "imagetransfer", TransferMode.MULTICAST, True)
    assert c.imagetransfer.cache_size == 20480 and c.imagetransfer.bandwidth == 12.5
    assert c.simulation.stop_when == "all-best-effort-done"


def test_haizea_overheads_need_add_overhead():
    text = "[tracefile]\ntracefile: t.lwf\nruntime-slowdown-overhead: 5\nbootshutdown-overhead: 20\n"
    r = parse_haizea_config(text, "x.conf")
    assert r.config.scheduling.runtime_slowdown_overhead == 0 and r.config.scheduling.boot_overhead == 0
    assert sum("add-overhead is none" in w for w in r.warnings) == 2
    r = parse_haizea_config(text + "add-overhead: besteffort\n", "x.conf")
    assert r.config.scheduling.runtime_slowdown_overhead == 5
    assert any("besteffort is not supported" in w for w in r.warnings)


def test_haizea_unsupported_and_unknown_are_warnings_naming_the_option():
    text = """
[general]
mode: opennebula
lease-failure-handling: exit
[scheduling]
policy-preemption: mypolicies.Preempt
override-suspend-time: 0
max-delay-vm: 10
force-scheduling-threshold: 00:10:00
frobnicate: 3
[simulation]
clock: real
stop-when: exact
stop-when-time: 01:00:00:00
[deploy-imagetransfer]
avoid-redundant-transfers: False
force-imagetransfer-time: 00:01:00
[tracefile]
imagefile: x.images
override-memory: 512
[opennebula]
host: localhost
port: 2633
[mystery]
x: 1
"""
    r = parse_haizea_config(text, "x.conf")
    w = "\n".join(r.warnings)
    for name in ("[general] mode", "lease-failure-handling", "policy-preemption: custom policy 'mypolicies.Preempt'",
                 "max-delay-vm", "[scheduling] frobnicate: unknown Haizea option",
                 "[simulation] clock", "stop-when:", "stop-when-time", "avoid-redundant-transfers",
                 "force-imagetransfer-time", "imagefile", "override-memory", "[opennebula] section ignored (host, port)",
                 "[mystery] unknown section"):
        assert name in w, name
    s = r.config.scheduling
    assert s.preemption is Preemption.NONE
    assert (s.scheduling_threshold.value, s.scheduling_threshold_value) == ("fixed", 600)
    assert "override-suspend-time" not in w and s.suspend_time == 0  # honoured, not warned about


def test_haizea_fixed_suspend_and_resume_times():
    r = parse_haizea_config("[scheduling]\noverride-suspend-time: 45\noverride-resume-time: 20\n", "x.conf")
    s = r.config.scheduling
    assert (s.suspend_time, s.resume_time) == (45, 20) and not r.warnings
    assert parse_haizea_config("[scheduling]\nsuspend-rate: 32\n", "x.conf").config.scheduling.suspend_time is None
    with pytest.raises(ConfigError, match="scheduling.override-resume-time"):
        parse_haizea_config("[scheduling]\noverride-resume-time: soon\n", "x.conf")


def test_haizea_file_reads_swf_with_haizeas_cancelled_rule():
    assert parse_haizea_config("[general]\nmode: simulated\n", "x.conf").config.trace.swf_cancelled.value == (
        "drop-unstarted")


def test_haizea_deadline_mapper_is_honoured_and_others_refused():
    r = parse_haizea_config("[scheduling]\nmapper: deadline\npolicy-preemption: deadline\n", "x.conf")
    assert not r.warnings and r.config.scheduling.preemption is Preemption.DEADLINE_AWARE
    with pytest.raises(ConfigError, match="scheduling.mapper: 'random' is not one of greedy, deadline"):
        parse_haizea_config("[scheduling]\nmapper: random\n", "x.conf")


def test_haizea_every_documented_option_is_known():
    """Each option of Haizea 1.1's configfile.py is mapped, noted or warned about — never unknown."""
    options = {
        "general": ["loglevel", "logfile", "mode", "lease-preparation", "lease-failure-handling", "persistence-file"],
        "scheduling": ["mapper", "policy-admission", "policy-preemption", "policy-host-selection", "policy-pricing",
                       "wakeup-interval", "backfilling", "backfilling-reservations", "suspension", "suspend-rate",
                       "resume-rate", "suspendresume-exclusion", "scheduling-threshold-factor",
                       "override-suspend-time", "override-resume-time", "force-scheduling-threshold", "migration",
                       "non-schedulable-interval", "shutdown-time", "enactment-overhead", "max-delay-duration",
                       "max-delay-vm", "max-delay-action"],
        "simulation": ["clock", "starttime", "resources", "imagetransfer-bandwidth", "stop-when", "stop-when-time",
                       "status-message-interval", "sanity-check"],
        "accounting": ["datafile", "probes", "attributes"],
        "deploy-imagetransfer": ["transfer-mechanism", "avoid-redundant-transfers", "force-imagetransfer-time",
                                 "diskimage-reuse", "diskimage-cache-size"],
        "tracefile": ["tracefile", "annotationfile", "injectionfile", "runtime-slowdown-overhead", "add-overhead",
                      "bootshutdown-overhead", "override-memory"],
    }
    values = {"mode": "simulated", "lease-preparation": "unmanaged", "lease-failure-handling": "cancel",
              "backfilling": "aggressive", "suspension": "all", "suspendresume-exclusion": "local", "migration": "no",
              "clock": "simulated", "starttime": "2006-11-25 13:00:00", "resources": "2 CPU:100 Memory:512",
              "stop-when": "all-leases-done", "transfer-mechanism": "unicast", "avoid-redundant-transfers": "True",
              "diskimage-reuse": "none", "add-overhead": "none", "sanity-check": "False", "mapper": "greedy",
              "max-delay-action": "CANCEL", "stop-when-time": "01:00:00:00", "attributes": "a=1",
              "policy-admission": "no-ARs", "policy-preemption": "no-preemption", "policy-host-selection": "greedy",
              "policy-pricing": "free", "tracefile": "t.lwf", "annotationfile": "t.lwfa", "injectionfile": "i.lwf",
              "probes": "ar", "datafile": "d", "loglevel": "INFO", "logfile": "l", "persistence-file": "none",
              "force-scheduling-threshold": "00:01:00", "force-imagetransfer-time": "00:01:00"}
    text = "".join(
        f"[{sec}]\n" + "".join(f"{o}: {values.get(o, '10')}\n" for o in opts) for sec, opts in options.items()
    )
    r = parse_haizea_config(text, "all.conf")
    assert not [w for w in r.warnings if "unknown" in w]
    assert r.config.scheduling.admission.value == "no-ars" and r.config.site.memory == 512
    assert r.annotationfile == Path("t.lwfa") and r.injectionfile == Path("i.lwf")


def test_haizea_invalid_values_are_errors():
    with pytest.raises(ConfigError) as err:
        parse_haizea_config("[scheduling]\nbackfilling: sometimes\nsuspend-rate: fast\n", "bad.conf")
    msg = str(err.value)
    assert "bad.conf: scheduling.backfilling: 'sometimes' is not one of off, aggressive" in msg
    assert "bad.conf: scheduling.suspend-rate: expected a number, got 'fast'" in msg


def test_haizea_multiconfig_rejected():
    with pytest.raises(ConfigError, match="multi-configuration"):
        parse_haizea_config("[profiles]\nnames: a\n[common:general]\nloglevel: STATUS\n", "m.conf")


def test_haizea_resources_in_tracefile():
    r = parse_haizea_config("[simulation]\nresources: in-tracefile\n", "x.conf")
    assert r.site_in_tracefile and r.config.site == Config().site
