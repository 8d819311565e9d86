"""The wheel carries the console's library and the compiled core: built from a copy of the source tree (no .so in
it), installed into a directory of its own, its `galerna view` serves ECharts with no node_modules next to it."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from galerna.console import build_assets
from tests.daemon.conftest import free_port

pytestmark = pytest.mark.xdist_group("console-wheel")
ROOT = Path(__file__).resolve().parents[2]
LIBRARY = build_assets.PACKAGE / "dist" / "echarts.esm.min.js"


def _source_copy(dest: Path) -> Path:
    """What a checkout after `npm ci` holds, minus the rest of node_modules (only the vendored files are read)."""
    shutil.copytree(ROOT / "galerna", dest / "galerna", ignore=shutil.ignore_patterns(
        "node_modules", "vendor", "__pycache__", "*.so", "*.c"))
    for f in ("pyproject.toml", "README.md", "setup.py"):
        if (ROOT / f).is_file():
            shutil.copy(ROOT / f, dest / f)
    for src in build_assets.VENDORED:
        target = dest / "galerna" / "console" / "node_modules" / "echarts" / src
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(build_assets.PACKAGE / src, target)
    return dest


def _tiny_output(out: Path) -> Path:
    out.mkdir()
    (out / "hosts.csv").write_text("host,cpu,memory\nnode1,4,4096\n")
    (out / "leases.csv").write_text("lease_id,type,submit,duration,real_duration,nodes,cpu,memory,state,start,end\n"
                                    "1,be,0,600,600,1,1,512,done,0,600\n")
    (out / "allocations.csv").write_text("lease_id,node,host,start,end,activity\n1,0,node1,0,600,run\n")
    return out


@pytest.mark.skipif(not LIBRARY.is_file(), reason="the console's npm packages are missing (npm ci)")
def test_an_installed_wheel_serves_the_console_and_its_library(tmp_path):
    src = _source_copy(tmp_path / "src")
    # the build backend pyproject.toml names, called as pip calls it (PEP 517), without pip's own start-up and its
    # extra metadata pass; then the wheel unpacked, as `pip install --target` does
    subprocess.run([sys.executable, "-c", "import sys, setuptools.build_meta as b; b.build_wheel(sys.argv[1])",
                    str(tmp_path / "whl")], cwd=src, check=True, capture_output=True)
    (wheel,) = (tmp_path / "whl").glob("galerna-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for pyx in sorted((ROOT / "galerna" / "schedule").glob("*.pyx")):  # setup.py builds every one
        assert [n for n in names if n.startswith(f"galerna/schedule/{pyx.stem}.") and n.endswith(".so")], pyx.name
    assert not [n for n in names if n.endswith((".c", ".pyx"))], "the compiled core's sources are not shipped"
    site = tmp_path / "site"
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    assert not (site / "galerna" / "console" / "node_modules").exists()
    env = {**os.environ, "PYTHONPATH": str(site)}  # galerna from the wheel; its dependencies from this interpreter
    where = subprocess.run([sys.executable, "-c", "import galerna.console.assets as a; print(a.__file__)"], env=env,
                           cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(where).is_relative_to(site)
    compiled = subprocess.run([sys.executable, "-c", "import galerna.schedule.timeline as t; print(t.__file__)"],
                              env=env, cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()
    assert Path(compiled).is_relative_to(site) and compiled.endswith(".so")
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "galerna.cli", "view", str(_tiny_output(tmp_path / "run")),
                             "--port", str(port)], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, proc.stdout.read().decode()
            try:
                lib = httpx.get(f"{url}/console/vendor/echarts.esm.min.js", timeout=5)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "galerna view from the wheel did not come up"
                time.sleep(0.2)
        assert lib.status_code == 200 and lib.headers["content-type"].startswith("text/javascript")
        assert lib.content == LIBRARY.read_bytes()
        assert httpx.get(f"{url}/console/bars.js").status_code == 200
        assert 'src="/console/view.js"' in httpx.get(f"{url}/").text
    finally:
        proc.terminate()
        proc.wait(20)


def test_a_build_without_npm_ci_fails_and_says_what_to_run(tmp_path, monkeypatch):
    monkeypatch.setattr(build_assets, "PACKAGE", tmp_path / "node_modules" / "echarts")
    with pytest.raises(build_assets.ConsoleAssetsMissing, match=r"run `npm ci` in .*galerna/console"):
        build_assets.vendor_into(tmp_path / "vendor")
    assert not (tmp_path / "vendor").exists()
