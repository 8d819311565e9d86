#!/bin/bash
# Start (or stop) a real libvirtd + QEMU for Galerna's integration tests (pytest -m libvirtd).
#
#   bash scripts/libvirtd_ci.sh start    # as root: install + start if needed; idempotent; prints pids
#   bash scripts/libvirtd_ci.sh stop     # stop every daemon it started, by the pids in their pid files
#   bash scripts/libvirtd_ci.sh status
#
# Not root: prints why and exits 0 (the libvirtd tests then skip). The first start on a
# fresh machine runs shared/tools/real_libvirtd_setup.sh (apt packages, ~1 min); later
# starts only launch the daemons with the same command lines. Listens on the unix socket
# and on qemu+tcp://127.0.0.1/system with NO authentication: CI only.
#
# It also starts a second, "peer" hypervisor on this machine for live migration tests:
# another libvirtd + virtlogd in a private mount namespace (unshare -m) whose /run/libvirt,
# /var/lib/libvirt, /var/cache/libvirt, /var/log/libvirt and /etc/libvirt are bind mounts of
# directories under $WORK/peer, with its own host_uuid (libvirt refuses to migrate to the
# "same host" otherwise). It listens on qemu+tcp://127.0.0.1:16510/system (loopback only, no
# auth: CI only) and on the unix socket $WORK/peer/run/libvirt-sock. LIBVIRT_CI_PEER=0 skips it.
set -uo pipefail
WORK=${LIBVIRT_CI_WORK:-/tmp/libvirt_ci}
PEER=$WORK/peer
PEER_PORT=${LIBVIRT_CI_PEER_PORT:-16510}
export WORK
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SETUP=""
for c in "$HERE/../../shared/tools/real_libvirtd_setup.sh" "$HERE/../shared/tools/real_libvirtd_setup.sh" \
         /work/shared/tools/real_libvirtd_setup.sh; do
    [ -f "$c" ] && { SETUP=$c; break; }
done

alive() { [ -n "${1:-}" ] && [ -d "/proc/$1" ] && ! grep -q '^[0-9]* ([^)]*) Z' "/proc/$1/stat" 2>/dev/null; }
pid_of() { [ -f "$WORK/$1.pid" ] && cat "$WORK/$1.pid" 2>/dev/null; }

peer_status() {
    local l v
    l=$(pid_of peer/libvirtd); v=$(pid_of peer/virtlogd)
    if alive "$l" && [ -S "$PEER/run/libvirt-sock" ]; then
        echo "peer libvirtd pid $l, virtlogd pid ${v:-?} on qemu+tcp://127.0.0.1:$PEER_PORT/system"
        return 0
    fi
    echo "peer libvirtd not running"
    return 1
}

# Runs inside the peer's mount namespace (see peer_start): private copies of libvirt's
# fixed directories, then virtlogd and libvirtd (exec: the pid stays the one unshare got).
peer_inside() {
    mount --make-rprivate / || return 1
    mkdir -p /run/libvirt /var/lib/libvirt /var/cache/libvirt /var/log/libvirt /etc/libvirt
    local d
    for d in run lib cache log etc; do
        case $d in
            run) t=/run/libvirt ;; lib) t=/var/lib/libvirt ;; cache) t=/var/cache/libvirt ;;
            log) t=/var/log/libvirt ;; etc) t=/etc/libvirt ;;
        esac
        mount --bind "$PEER/$d" "$t" || return 1
    done
    /usr/sbin/virtlogd --daemon --pid-file "$PEER/virtlogd.pid" || return 1
    exec /usr/sbin/libvirtd --listen --config "$PEER/libvirtd.conf" --pid-file "$PEER/libvirtd.pid"
}

peer_start() {
    [ "${LIBVIRT_CI_PEER:-1}" = 0 ] && return 0
    if peer_status >/dev/null; then peer_status; return 0; fi
    command -v unshare >/dev/null || { echo "libvirtd_ci: no unshare, no peer libvirtd (live migration tests skip)" >&2; return 0; }
    mkdir -p "$PEER"/{run,lib,cache,log,etc}
    # only the QEMU driver's settings: never the first hypervisor's domain definitions
    [ -f "$PEER/etc/qemu.conf" ] || cp /etc/libvirt/qemu.conf "$PEER/etc/qemu.conf"
    if [ ! -f "$PEER/libvirtd.conf" ]; then
        local uuid
        uuid=$(cat /proc/sys/kernel/random/uuid)
        cat > "$PEER/libvirtd.conf" <<EOC
listen_tls = 0
listen_tcp = 1
tcp_port = "$PEER_PORT"
listen_addr = "127.0.0.1"
auth_tcp = "none"
auth_unix_rw = "none"
host_uuid = "$uuid"
log_outputs = "3:file:$PEER/libvirtd.log"
EOC
    fi
    PEER=$PEER unshare -m --propagation private bash "$HERE/libvirtd_ci.sh" _peer-inside \
        >"$PEER/libvirtd.out" 2>&1 </dev/null &
    for _ in $(seq 100); do
        [ -S "$PEER/run/libvirt-sock" ] && alive "$(pid_of peer/libvirtd)" && break
        sleep 0.2
    done
    virsh -c "qemu+tcp://127.0.0.1:$PEER_PORT/system" version >/dev/null 2>&1 || {
        echo "libvirtd_ci: the peer libvirtd did not answer (live migration tests skip); see $PEER/libvirtd.out" >&2
        cat "$PEER/libvirtd.out" >&2
        return 0
    }
    peer_status
}

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
    if status >/dev/null; then status; peer_start; return 0; fi
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
    status || return 1
    peer_start
}

stop() {
    local p
    for d in peer/libvirtd peer/virtlogd libvirtd virtlogd; do
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
    status) status; peer_status; true ;;
    _peer-inside) peer_inside ;;
    *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
