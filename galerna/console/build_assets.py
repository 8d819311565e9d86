"""Build step: puts the console's JavaScript library (Apache ECharts, from ``npm ci``) into the wheel.

setuptools runs ``ConsoleBuildPy`` (named in setup.py's ``cmdclass``) instead of its own
``build_py``: after the usual copy it adds ``galerna/console/vendor/`` with ECharts' built ES module and its licence
files, so an installed wheel serves the console with no node_modules and nothing fetched. npm packages are not kept
in git (package-lock.json pins them); a build without ``npm ci`` fails and says so. An editable install needs no copy:
galerna/console/assets.py finds the library in node_modules.

This file is loaded by setuptools on its own (not as part of the galerna package): it imports nothing from galerna.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PACKAGE = HERE / "node_modules" / "echarts"
# what the wheel ships, from node_modules/echarts: source -> name in galerna/console/vendor/
VENDORED = {"dist/echarts.esm.min.js": "echarts.esm.min.js", "LICENSE": "echarts.LICENSE", "NOTICE": "echarts.NOTICE"}


class ConsoleAssetsMissing(RuntimeError):
    """The build was asked for a wheel but the console's npm packages were never installed."""


def vendor_into(target: Path) -> list[Path]:
    """Copy VENDORED into ``target`` (created); returns the files written."""
    missing = [src for src in VENDORED if not (PACKAGE / src).is_file()]
    if missing:
        raise ConsoleAssetsMissing(
            f"the web console's JavaScript library is missing ({', '.join(str(PACKAGE / m) for m in missing)}): run "
            f"`npm ci` in {HERE} (or `bash scripts/setup.sh`) before building the wheel")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for src, name in VENDORED.items():
        shutil.copyfile(PACKAGE / src, target / name)
        written.append(target / name)
    return written


class ConsoleBuildPy(build_py):
    def exclude_data_files(self, package, src_dir, files):
        """npm's tree is not package data (pyproject's ``**/*.html`` would pick files from it)."""
        return [f for f in super().exclude_data_files(package, src_dir, files) if "node_modules" not in Path(f).parts]

    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):
            vendor_into(Path(self.build_lib) / "galerna" / "console" / "vendor")
