"""Where the console's static files and its npm-installed library are, and the routes that serve them.

The library (Apache ECharts) comes from ``npm ci`` in this directory (``scripts/setup.sh`` runs it), and a wheel carries
a copy of it in ``vendor/`` (build_assets.py); nothing is fetched at run time. When it is missing the page says how to
install it instead of failing silently.
"""
from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, PlainTextResponse, Response

HERE = Path(__file__).parent
STATIC = HERE / "static"
# where each library file is: in an installed wheel, vendor/ (copied in at build time by build_assets.py); in a source
# tree, node_modules/ (npm ci)
VENDOR = {name: next((p for p in paths if p.is_file()), paths[-1]) for name, paths in {
    "echarts.esm.min.js": [HERE / "vendor" / "echarts.esm.min.js",
                           HERE / "node_modules" / "echarts" / "dist" / "echarts.esm.min.js"]}.items()}
MISSING = ("the console's JavaScript library is not installed: run `bash scripts/setup.sh` "
           "(or `npm ci` in galerna/console/)")
FILES = {"timeline.js", "axis.js", "hostlabels.js", "bars.js", "zoom.js", "console.js", "view.js", "sse.js", "api.js",
         "style.css", "index.html", "view.html"}
MEDIA = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


def vendor_missing() -> list[str]:
    return [name for name, p in VENDOR.items() if not p.is_file()]


def static_router(index: str) -> APIRouter:
    """``/`` serves ``index`` (index.html for the console, view.html for ``galerna view``); ``/console/<file>`` the
    front-end's modules and ``/console/vendor/<file>`` the npm library. Only these named files are served."""
    r = APIRouter(include_in_schema=False)

    def send(path: Path, name: str):
        return FileResponse(path, media_type=MEDIA[Path(name).suffix], headers={"Cache-Control": "no-cache"})

    @r.get("/")
    def page():
        return send(STATIC / index, index)

    @r.get("/favicon.ico")
    def favicon():
        return Response(status_code=204)

    @r.get("/console/{name}")
    def static_file(name: str):
        if name not in FILES:
            return PlainTextResponse(f"no file {name}", status_code=404)
        return send(STATIC / name, name)

    @r.get("/console/vendor/{name}")
    def vendor_file(name: str):
        if name not in VENDOR:
            return PlainTextResponse(f"no file {name}", status_code=404)
        if not VENDOR[name].is_file():
            return PlainTextResponse(MISSING, status_code=503)
        return send(VENDOR[name], name)

    return r
