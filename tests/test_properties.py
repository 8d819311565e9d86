"""Random workloads and configurations: every schedule must pass the independent checker."""
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from galerna.config.schema import Config
from galerna.model.lease import DiskImage, LeaseRequest, LeaseType
from galerna.model.site import Site
from galerna.model.state import LeaseState
from galerna.sim.engine import Simulation
from helpers import check_in_process, write


@st.composite
def workloads(draw):
    hosts = draw(st.integers(1, 4))
    cpu = draw(st.sampled_from([1.0, 2.0, 4.0]))
    memory = draw(st.sampled_from([1024.0, 2048.0, 4096.0]))
    site = Site.uniform(hosts, cpu=cpu, memory=memory)
    n = draw(st.integers(1, 14))
    reqs = []
    for i in range(n):
        kind = draw(st.sampled_from(list(LeaseType)))
        submit = float(draw(st.integers(0, 4000)))
        duration = float(draw(st.integers(1, 3000)))
        real = float(draw(st.integers(1, int(duration)))) if draw(st.booleans()) else None
        nodes = draw(st.integers(1, 3))
        ncpu = draw(st.sampled_from([0.5, 1.0, 2.0]))
        nmem = draw(st.sampled_from([256.0, 512.0, 1024.0]))
        start = deadline = None
        if kind in (LeaseType.AR, LeaseType.DEADLINE):
            start = submit + float(draw(st.integers(0, 3000)))
        if kind is LeaseType.DEADLINE:
            deadline = start + duration + float(draw(st.integers(0, 6000)))
        image = draw(st.sampled_from([None, DiskImage("a", 512.0), DiskImage("b", 2048.0)]))
        reqs.append(LeaseRequest(str(i), kind, submit, duration, tuple({"cpu": ncpu, "memory": nmem} for _ in range(nodes)),
                                 start=start, deadline=deadline, real_duration=real, image=image,
                                 preemptible=draw(st.booleans()) if kind in (LeaseType.BE, LeaseType.DEADLINE) else False))
    return site, reqs


configs = st.builds(
    lambda bf, susp, mig, excl, pre, sel, boot, shut, slow, rate, nsi, images: Config.model_validate({
        "imagetransfer": images,
        "scheduling": {"backfilling": bf, "suspension": susp, "migration": mig, "suspendresume_exclusion": excl,
                       "preemption": pre, "host_selection": sel, "boot_overhead": boot, "shutdown_time": shut,
                       "runtime_slowdown_overhead": slow, "suspend_rate": rate, "resume_rate": rate,
                       "non_schedulable_interval": nsi}}),
    st.sampled_from(["off", "aggressive", "conservative", "intermediate"]),
    st.sampled_from(["none", "serial-only", "all"]),
    st.sampled_from(["no", "yes", "yes-notransfer"]),
    st.sampled_from(["local", "global"]),
    st.sampled_from(["none", "ar-preempts-everything", "deadline-aware"]),
    st.sampled_from(["greedy", "packing", "striping"]),
    st.sampled_from([0.0, 15.0]), st.sampled_from([0.0, 7.0]), st.sampled_from([0.0, 10.0]),
    st.sampled_from([8.0, 32.0, 1024.0]), st.sampled_from([0.0, 20.0]),
    st.one_of(st.just({}), st.fixed_dictionaries({
        "preparation": st.just("imagetransfer"), "transfer_mode": st.sampled_from(["unicast", "multicast"]),
        "bandwidth": st.sampled_from([8.0, 64.0]), "reuse": st.booleans(), "cache_size": st.sampled_from([0.0, 2048.0]),
        "default_image_size": st.sampled_from([0.0, 256.0])})),
)


def describe(site, reqs, cfg) -> str:
    """What hypothesis cannot print: the site, the requests and the non-default options."""
    lines = [f"site: {len(site)} x {site.hosts[0].capacity}"]
    lines += [repr(r) for r in reqs]
    lines.append(repr(cfg.model_dump(exclude_defaults=True)))
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(workloads(), configs)
def test_random_schedules_pass_the_checker(workload, cfg):
    site, reqs = workload
    result = Simulation(site, cfg, reqs).run()
    for L in result.leases:
        assert L.state.final, f"lease {L.id} left in {L.state.value}\n{describe(site, reqs, cfg)}"
        if L.state is LeaseState.DONE and L.type is LeaseType.DEADLINE:
            assert L.last_run_end() <= L.req.deadline + 1e-6
    with tempfile.TemporaryDirectory() as d:
        write(result, Path(d))
        check_in_process(Path(d), len(reqs))

