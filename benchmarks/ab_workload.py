"""CPU seconds of one workload's simulation with the code of two checkouts, side by side, best of N.

Usage: python benchmarks/ab_workload.py TREE_A TREE_B WORKLOAD [N]
  WORKLOAD: a | b | trace (as in simulator_throughput.py, rebind off), or a study profile
  (nosusp, susp50, vm-predeployed, vm-transfer, vm-reuse: one run with one AR injection, as in
  output_digests.py).

Each run is a fresh interpreter with that tree first on PYTHONPATH (each tree needs its compiled
core built: `python setup.py build_ext --inplace`), A and B alternating so that a change of
machine load hits both alike; it prints every run, the minimum and median per tree and B/A of the
minima. For comparing two commits of this session's work on a workload that
`simulator_throughput.py --against` does not run (the study profiles); session 13's helpers measured
their changes with it.
"""
import os
import statistics
import subprocess
import sys

if len(sys.argv) < 4:
    sys.exit(__doc__)
A, B, W = sys.argv[1:4]
N = int(sys.argv[4]) if len(sys.argv) > 4 else 3
CHILD = r'''
import os, sys, time
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ["GALERNA_BENCH_REBIND"] = "off"
sys.path.insert(0, "benchmarks")
W = sys.argv[1]
if W in ("a", "b", "trace"):
    import simulator_throughput as st
    from galerna.sim.engine import Simulation
    from galerna.sim.run import site_from_config
    req, cfg = st.build(W)
    sim = Simulation(site_from_config(cfg), cfg, req)
else:
    import output_digests as od
    from galerna.config.schema import Config
    from galerna.sim.run import prepare
    from galerna.sweep.spec import load_sweep
    spec = load_sweep(od.ROOT / "studies" / "hpdc2008.toml")
    cfg = Config.model_validate(spec.profile_config(W))
    sim = prepare(od.BLUE / "30days.swf", cfg, [od.STUDY_INJECTION])
c = time.process_time(); sim.run(); print(time.process_time() - c)
'''
res = {A: [], B: []}
for i in range(N):
    for tree in (A, B):
        env = dict(os.environ, PYTHONPATH=tree, OPENBLAS_NUM_THREADS="1")
        p = subprocess.run([sys.executable, "-c", CHILD, W], cwd=tree, env=env, capture_output=True, text=True)
        if p.returncode:
            sys.exit(f"{tree}: failed\n{p.stderr[-2000:]}")
        t = float(p.stdout.strip().splitlines()[-1]); res[tree].append(t)
        print(f"run {i} {tree}: {t:.3f} s CPU", flush=True)
for tree in (A, B):
    print(f"{W} {tree}: min {min(res[tree]):.3f} median {statistics.median(res[tree]):.3f} s CPU")
print(f"{W}: B/A (min) = {min(res[B]) / min(res[A]):.3f}")
