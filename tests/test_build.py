"""Building the compiled core (setup.py): what a machine without a C compiler is told.

Kept out of the compiled modules' property tests (test_timeline.py, test_gridsearch.py), which
scripts/sanitize_ci.sh runs again under sanitizers: this one runs a build, not the core.
"""
import shutil
import subprocess
import sys
from pathlib import Path


def test_a_missing_compiler_is_named_clearly(tmp_path):
    """setup.py turns the compiler's failure into one message saying what to install."""
    root = Path(__file__).resolve().parents[1]
    for name in ("setup.py", "pyproject.toml", "README.md", "galerna/console/build_assets.py"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(root / name, tmp_path / name)
    (tmp_path / "galerna" / "schedule").mkdir(parents=True)
    # one tiny module: Cython translates it at once, then the C compiler is called
    (tmp_path / "galerna" / "schedule" / "tiny.pyx").write_text("def one():\n    return 1\n")
    env = {"PATH": "/usr/bin:/bin", "CC": str(tmp_path / "no-such-gcc"), "HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--inplace"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode != 0
    assert "needs a C compiler and the Python headers" in proc.stderr and "apt-get install gcc python3-dev" in proc.stderr
