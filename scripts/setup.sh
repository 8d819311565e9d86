#!/usr/bin/env bash
# Creates or refreshes .venv with Galerna and its test tools. As root on Debian it
# first installs the system packages libvirt-python and Galerna's compiled core (Cython's C
# output, galerna/schedule/*.pyx) compile against.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    need=()
    # nodejs/npm install the console's JavaScript library; chromium runs the console's browser tests
    for p in libvirt-dev libvirt0 pkg-config gcc python3-dev nodejs npm chromium; do
        case "$p" in nodejs|npm) command -v npm >/dev/null && continue ;; esac  # a Node.js of one's own will do
        dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
    done
    if [ ${#need[@]} -gt 0 ]; then
        echo "setup: installing Debian packages: ${need[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
fi
if ! pkg-config --exists libvirt 2>/dev/null; then
    echo "setup: libvirt development files are missing: install libvirt-dev and pkg-config (apt-get install libvirt-dev pkg-config), or run this as root" >&2
    exit 1
fi
if ! command -v "${CC:-gcc}" >/dev/null && ! command -v cc >/dev/null; then
    echo "setup: no C compiler: Galerna's compiled core needs one: install gcc and python3-dev (apt-get install gcc python3-dev), or run this as root" >&2
    exit 1
fi
if [ ! -f "$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')/Python.h" ]; then
    echo "setup: the Python headers (Python.h) are missing: the compiled core needs them: apt-get install python3-dev, or run this as root" >&2
    exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
stamp=.venv/.galerna-installed
# Reinstall (which recompiles the core) when the dependencies or a compiled source changed.
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ] \
   || [ -n "$(find galerna -name '*.pyx' -newer "$stamp")" ]; then
    echo "setup: installing Galerna and its dependencies into .venv"
    .venv/bin/python -m pip install -q --upgrade pip setuptools wheel 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -m pip install -q -e ".[test]" 2>&1 | grep -v "^WARNING: Location" || true
    .venv/bin/python -c "import galerna, galerna.schedule.gridsearch, libvirt, fastapi, dask, matplotlib" 
    touch "$stamp"
fi
# The web console's JavaScript library (Apache ECharts), pinned by galerna/console/package-lock.json; nothing is
# fetched when the console runs.
if ! command -v npm >/dev/null; then
    echo "setup: npm is missing: install Node.js 20 and npm (apt-get install nodejs npm), or run this as root; the web console needs them" >&2
    exit 1
fi
console=galerna/console
if [ ! -f "$console/node_modules/.package-lock.json" ] || [ "$console/package-lock.json" -nt "$console/node_modules/.package-lock.json" ]; then
    echo "setup: installing the web console's JavaScript packages (npm ci)"
    (cd "$console" && npm ci --no-audit --no-fund --loglevel=error)
fi
