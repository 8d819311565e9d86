#!/usr/bin/env bash
# CI: the compiled core's property tests once against a build with AddressSanitizer and
# UndefinedBehaviorSanitizer. The extension is built in a scratch copy of the package (the
# tree's own build is left alone) and the sanitizer runtimes are preloaded into Python, which
# is not built with them. Leak checking is off: CPython keeps its objects until exit.
set -euo pipefail
# The tests that drive the compiled core with random edits and questions against Python oracles.
PROPERTY_TESTS="tests/test_gridsearch.py tests/test_timeline.py"
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
[ -x "$PY" ] || PY=python3
case "$PY" in */*) PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")" ;; *) PY=$(command -v "$PY") ;; esac
CC=${CC:-gcc}
command -v "$CC" >/dev/null || { echo "sanitize_ci: $CC not found: apt-get install gcc" >&2; exit 1; }
asan=$("$CC" -print-file-name=libasan.so)
ubsan=$("$CC" -print-file-name=libubsan.so)
for lib in "$asan" "$ubsan"; do
    [ -f "$lib" ] || { echo "sanitize_ci: $lib not found: apt-get install libasan8 libubsan1" >&2; exit 1; }
done
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
tar --exclude=node_modules --exclude=__pycache__ -cf - galerna setup.py pyproject.toml README.md | tar -xf - -C "$scratch"
mkdir "$scratch/tests"
cp tests/conftest.py "$scratch/tests/"
cp $PROPERTY_TESTS "$scratch/tests/"
find "$scratch/galerna" \( -name '*.so' -o -name '*.c' -o -name __pycache__ \) -prune -exec rm -rf {} +
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"
(cd "$scratch" && CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" "$PY" setup.py -q build_ext --inplace) \
    || { echo "sanitize_ci: the sanitized build failed" >&2; exit 1; }
ldd "$(ls "$scratch"/galerna/schedule/*.so | head -1)" | grep -q libasan \
    || { echo "sanitize_ci: the extension was not linked with AddressSanitizer" >&2; exit 1; }
echo "sanitize_ci: property tests of the compiled core under ASan + UBSan"
(cd "$scratch" && LD_PRELOAD="$asan $ubsan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PYTHONPATH="$scratch" \
    "$PY" -m pytest -q -p no:cacheprovider -p no:xdist $PROPERTY_TESTS)
