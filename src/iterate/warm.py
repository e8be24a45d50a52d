"""Warm stage runs, the stage's side: hand the run to a warm server when one is up.

A server (:mod:`iterate.warmserver`) keeps the heavy libraries imported and forks a child per
stage run, so that a stage pays for its own work, not for the ~1.5 s of importing scikit-learn,
SciPy, skops, pandas and matplotlib again in every process. A stage hands its run over with
:func:`delegate` and runs cold itself when no server answers, when the server runs other code
than its own, or when ``ITERATE_WARM=0``. The client forwards signals to the child and exits as
it did. Linux only (abstract Unix sockets, fork, pidfd); elsewhere every stage runs cold.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import socket
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STAGE_PREFIX = "iterate.stages."
SUPPORTED = sys.platform == "linux" and hasattr(os, "pidfd_open")
served_child = False  # True in a child forked by the server: run there, never delegate again


def address(root: str | Path) -> str:
    """The abstract socket name of the server for ``root`` run by this interpreter and code."""
    key = "\0".join((os.path.realpath(root), sys.executable, str(PACKAGE)))
    return "\0iterate-warm-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def fingerprint() -> str:
    """Changes whenever a source file of the package changes (edits make the server stale)."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- the stage's side


def delegate(module: str, argv: list[str]) -> int | None:
    """Run stage ``module`` with ``argv`` in the warm server; its exit code, or None when no
    server took the run (then the caller runs it cold)."""
    if served_child or not SUPPORTED or os.environ.get("ITERATE_WARM") == "0":
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(address(os.getcwd()))
    except OSError:
        client.close()
        return None
    with client:
        request = {"module": module, "argv": argv, "cwd": os.getcwd(), "env": dict(os.environ),
                   "fingerprint": fingerprint()}
        socket.send_fds(client, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        replies = client.makefile("rb")
        started = _read_reply(replies)
        if started.get("status") != "started":
            return None  # stale or refused: run cold
        child = started["pid"]
        forward = {sig: signal.signal(sig, lambda signum, _: kill(child, signum))
                   for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        try:
            finished = _read_reply(replies)
        finally:
            for sig, previous in forward.items():
                signal.signal(sig, previous)
    if "exit" not in finished:
        print(f"error: the warm server stopped during {module}; run `dvc repro` again",
              file=sys.stderr)
        return 1
    code = finished["exit"]
    if code < 0:  # killed by a signal: die the same way, as a cold run would have
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code


def _read_reply(replies) -> dict:
    line = replies.readline()
    return json.loads(line) if line else {}


def kill(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
