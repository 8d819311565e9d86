"""Galerna as OpenNebula 7's scheduler driver: ``python -m galerna.opennebula.sched_mad``.

oned starts it as its SCHED_MAD (see docs/opennebula.md for the oned.conf
lines), writes ``INIT``, ``PLACE``, ``OPTIMIZE`` and ``FINALIZE`` lines on its
stdin and reads the answers on its stdout. oned closes the driver's stderr,
so everything is logged to a file. Each PLACE document goes to the Galerna
daemon over its plan socket; the daemon answers with the VMs it wants
started now (HOST_ID and DS_ID each) and a LOG line per VM it is holding
back or refusing (``E`` becomes the VM's SCHED_MESSAGE). OPTIMIZE gets a plan
with no moves: Galerna migrates on its own clock. When the daemon is down
the answer is an empty plan, so oned places nothing behind Galerna's back.
"""
from __future__ import annotations

import argparse
import logging
import shlex
import sys
from pathlib import Path
from typing import IO, Callable

from galerna.opennebula.planbook import ask
from galerna.opennebula.sched_protocol import ProtocolError, log_line, parse_line, plan_xml, reply

log = logging.getLogger("galerna.opennebula.sched_mad")
DEFAULT_LOG = "/var/log/one/galerna-sched.log"
DEFAULT_SOCKET = "/var/lib/galerna/one-plan.sock"

Asker = Callable[[bytes], dict]


def handle(line: str, asker: Asker) -> list[str]:
    """The lines to write back for one line from oned (empty for FINALIZE and noise)."""
    try:
        msg = parse_line(line)
    except ProtocolError as e:
        log.warning("ignored a line from oned: %s", e)
        return []
    if msg.type == "INIT":
        return ["INIT SUCCESS"]
    if msg.type == "FINALIZE":
        return ["FINALIZE SUCCESS"]
    if msg.type == "OPTIMIZE":
        cid = msg.id
        log.info("OPTIMIZE for cluster %s: no moves (Galerna migrates on its own clock)", cid)
        return [reply("OPTIMIZE", True, cid, f"<PLAN><ID>{int(cid)}</ID></PLAN>")]
    if msg.type != "PLACE":
        log.warning("unknown message type %s", msg.type)
        return []
    try:
        answer = asker(msg.payload)
    except (OSError, ValueError) as e:
        log.error("Galerna daemon not reachable (%s): empty plan", e)
        return [reply("PLACE", True, msg.id, plan_xml(-1, []))]
    if "error" in answer:
        log.error("the daemon could not plan: %s", answer["error"])
        return [reply("PLACE", False, msg.id, answer["error"])]
    out = [log_line(str(level), int(vm), str(text)) for level, vm, text in answer.get("logs", [])]
    plan = answer.get("plan") or plan_xml(-1, [])
    log.info("PLACE: %s; %d log lines", plan, len(out))
    return out + [reply("PLACE", True, msg.id, plan)]


def serve(stdin: IO[str], stdout: IO[str], asker: Asker) -> None:
    for line in stdin:
        if not line.strip():
            continue
        for out in handle(line, asker):
            stdout.write(out + "\n")
        stdout.flush()
        if line.split()[0].upper() == "FINALIZE":
            return


def _args(argv: list[str]) -> argparse.Namespace:
    if len(argv) == 1 and " " in argv[0]:
        argv = shlex.split(argv[0])  # oned passes all ARGUMENTS as one argv entry
    p = argparse.ArgumentParser(prog="galerna-sched", description=__doc__.splitlines()[0])
    p.add_argument("--socket", "-s", default=None, help=f"the daemon's plan socket (default {DEFAULT_SOCKET})")
    p.add_argument("--log", "-l", default=None, help=f"log file (default {DEFAULT_LOG})")
    p.add_argument("--config", "-c", default=None, help="Galerna's TOML file: [opennebula] plan_socket, sched_log")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for the daemon's answer")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = _args(sys.argv[1:] if argv is None else argv)
    sock, logfile = a.socket, a.log
    if a.config:
        from galerna.config.load import load_config

        cfg = load_config(a.config, []).opennebula
        sock = sock or cfg.plan_socket or None
        logfile = logfile or cfg.sched_log or None
    sock, logfile = sock or DEFAULT_SOCKET, logfile or DEFAULT_LOG
    Path(logfile).parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(logfile)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    log.info("started; plan socket %s", sock)
    try:
        serve(sys.stdin, sys.stdout, lambda doc: ask(sock, doc, a.timeout))
    except Exception:  # noqa: BLE001 - oned restarts a driver that dies; say why first
        log.exception("driver stopped")
        return 1
    log.info("finalized")
    return 0


if __name__ == "__main__":
    sys.exit(main())
