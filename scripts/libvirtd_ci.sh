#!/bin/bash
# Start (or stop) a real libvirtd + QEMU for Galerna's integration tests (pytest -m libvirtd).
#
#   bash scripts/libvirtd_ci.sh start    # as root: install + start if needed; idempotent; prints pids
#   bash scripts/libvirtd_ci.sh stop     # stop libvirtd and virtlogd by the pids in their pid files
#   bash scripts/libvirtd_ci.sh status
#
# Not root: prints why and exits 0 (the libvirtd tests then skip). The first start on a
# fresh machine runs shared/tools/real_libvirtd_setup.sh (apt packages, ~1 min); later
# starts only launch the daemons with the same command lines. Listens on the unix socket
# and on qemu+tcp://127.0.0.1/system with NO authentication: CI only.
set -uo pipefail
WORK=${LIBVIRT_CI_WORK:-/tmp/libvirt_ci}
export WORK
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SETUP=""
for c in "$HERE/../../shared/tools/real_libvirtd_setup.sh" "$HERE/../shared/tools/real_libvirtd_setup.sh" \
         /work/shared/tools/real_libvirtd_setup.sh; do
    [ -f "$c" ] && { SETUP=$c; break; }
done

alive() { [ -n "${1:-}" ] && [ -d "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
pid_of() { [ -f "$WORK/$1.pid" ] && cat "$WORK/$1.pid" 2>/dev/null; }

status() {
    local l v
    l=$(pid_of libvirtd); v=$(pid_of virtlogd)
    if alive "$l" && [ -S /run/libvirt/libvirt-sock ]; then
        echo "libvirtd pid $l, virtlogd pid ${v:-?} (work dir $WORK)"
        return 0
    fi
    echo "libvirtd not running (work dir $WORK)"
    return 1
}

start() {
    if [ "$(id -u)" != 0 ]; then
        echo "libvirtd_ci: not root, not starting libvirtd; the libvirtd integration tests will skip"
        return 0
    fi
    if status >/dev/null; then status; return 0; fi
    if [ -x /usr/sbin/libvirtd ] && [ -x /usr/sbin/virtlogd ] && [ -f "$WORK/libvirtd.conf" ] \
            && command -v qemu-system-x86_64 >/dev/null; then
        # installed and configured before: start the daemons exactly as the setup script does
        alive "$(pid_of virtlogd)" || {
            /usr/sbin/virtlogd --pid-file "$WORK/virtlogd.pid" >"$WORK/virtlogd.out" 2>&1 &
        }
        /usr/sbin/libvirtd --listen --config "$WORK/libvirtd.conf" --pid-file "$WORK/libvirtd.pid" \
            >"$WORK/libvirtd.out" 2>&1 &
        for _ in $(seq 100); do
            [ -S /run/libvirt/libvirt-sock ] && [ -S /run/libvirt/virtlogd-sock ] && alive "$(pid_of libvirtd)" && break
            sleep 0.2
        done
        virsh -c qemu:///system version >/dev/null 2>&1 || true
    else
        [ -n "$SETUP" ] || { echo "libvirtd_ci: real_libvirtd_setup.sh not found next to the repository" >&2; return 1; }
        bash "$SETUP" || { echo "libvirtd_ci: $SETUP failed" >&2; return 1; }
    fi
    status
}

stop() {
    local p
    for d in libvirtd virtlogd; do
        p=$(pid_of $d)
        if alive "$p"; then
            kill "$p" && echo "stopped $d pid $p"
            for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
        fi
    done
    return 0
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
