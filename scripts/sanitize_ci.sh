#!/usr/bin/env bash
# CI: the compiled core's property tests once against a build with AddressSanitizer and
# UndefinedBehaviorSanitizer. The extension is built in a scratch copy of the package (the
# tree's own build is left alone) and the sanitizer runtimes are preloaded into Python, which
# is not built with them. Leak checking is off: CPython keeps its objects until exit. Any report
# aborts the process (abort_on_error, halt_on_error), so the run, and CI, fails; a canary checks that
# first. Nothing is left behind: the scratch copy is removed on exit.
set -euo pipefail
# The tests that drive the compiled core with random edits and questions against Python oracles.
PROPERTY_TESTS="tests/test_gridsearch.py tests/test_timeline.py tests/test_slottable_compiled.py tests/test_freed.py"
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
# A canary built with the same flags, only in the scratch copy: one bug of each kind, which must be reported and
# must stop the run, or a clean property run proves nothing.
cat > "$scratch/galerna/schedule/_sanitizer_canary.pyx" <<'PYX'
from libc.stdlib cimport malloc, free
def heap_overflow(int n):
    cdef int *a = <int *>malloc(4 * sizeof(int))
    a[n] = 1
    free(a)
def signed_overflow(int n):
    cdef int x = 2147483647
    x += n
    return x
PYX
flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -O1 -g"
(cd "$scratch" && CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" "$PY" setup.py -q build_ext --inplace \
    --parallel "$(nproc)") || { echo "sanitize_ci: the sanitized build failed" >&2; exit 1; }
# Every extension must be linked with ASan. ldd's output is read whole first: piping it into `grep -q` lets grep
# exit at the first match while ldd still writes, and under pipefail that SIGPIPE failed CI at random.
for so in "$scratch"/galerna/schedule/*.so; do
    deps=$(ldd "$so")
    grep -q libasan <<<"$deps" \
        || { echo "sanitize_ci: $(basename "$so") was not linked with AddressSanitizer:" >&2; echo "$deps" >&2; exit 1; }
done
sanitized() {
    (cd "$scratch" && LD_PRELOAD="$asan $ubsan" ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 PYTHONPATH="$scratch" "$PY" "$@")
}
where=$(sanitized -c 'import galerna.schedule.timeline as t; print(t.__file__)')
case "$where" in "$scratch"/*) ;; *) echo "sanitize_ci: the tests would import $where, not the sanitized build" >&2; exit 1 ;; esac
# (UBSan's object-size check may report the heap overflow before ASan does: either stops the run)
for bug in "heap_overflow(4):heap-buffer-overflow|insufficient space" "signed_overflow(1):signed integer overflow"; do
    if out=$(sanitized -c "from galerna.schedule import _sanitizer_canary as c; c.${bug%%:*}" 2>&1); then
        echo "sanitize_ci: the canary's ${bug%%:*} ran to the end: the sanitizers are not live" >&2; exit 1
    fi
    grep -qE "${bug#*:}" <<<"$out" || { echo "sanitize_ci: the canary's ${bug%%:*} failed without its report:" >&2
                                       echo "$out" >&2; exit 1; }
done
rm "$scratch"/galerna/schedule/_sanitizer_canary.*
echo "sanitize_ci: sanitized build and canary in ${SECONDS} s (its two bugs reported, each stopped the run);" \
     "property tests of the compiled core under ASan + UBSan"
sanitized -m pytest -q -p no:cacheprovider -p no:xdist $PROPERTY_TESTS
echo "sanitize_ci: done in ${SECONDS} s"
