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
import struct
import sys
import sysconfig
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
STARTUP_VARIABLES = (  # read once at start by Python or the numeric libraries
    "PYTHONHASHSEED", "PYTHONUTF8", "PYTHONIOENCODING", "PYTHONWARNINGS", "PYTHONPATH",
    "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "TZ", "LANG", "LC_ALL",
)
SUPPORTED = sys.platform == "linux" and hasattr(os, "pidfd_open")
served_child = False  # True in a child forked by the server: run there, never delegate again


def address(root: str | Path) -> str:
    """The abstract socket name of the server for ``root`` run by this interpreter and code."""
    key = "\0".join((os.path.realpath(root), sys.executable, str(PACKAGE)))
    return "\0iterate-warm-" + hashlib.sha256(key.encode()).hexdigest()[:32]


def fingerprint() -> str:
    """Changes whenever a source file of the package changes, or a library is installed or
    removed (either makes the server stale)."""
    digest = hashlib.sha256()
    libraries = Path(sysconfig.get_paths()["purelib"])  # changes when a package is (un)installed
    if libraries.is_dir():
        digest.update(f"{libraries}\0{libraries.stat().st_mtime_ns}\n".encode())
    for path in sorted(PACKAGE.rglob("*.py")):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_mtime_ns}\0{stat.st_size}\n".encode())
    return digest.hexdigest()


# ---------------------------------------------------------------- the stage's side


def enabled() -> bool:
    """Warm runs are possible here and not switched off with ITERATE_WARM=0."""
    return SUPPORTED and os.environ.get("ITERATE_WARM") != "0"


def startup() -> dict:
    """What a process takes from its environment at start, not per call: the server serves
    only stages that would have started the same way."""
    umask = os.umask(0)
    os.umask(umask)
    return {"umask": umask, **{name: os.environ.get(name) for name in STARTUP_VARIABLES}}


def delegate(module: str, argv: list[str]) -> int | None:
    """Run stage ``module`` with ``argv`` in the warm server; its exit code, or None when no
    server took the run (then the caller runs it cold)."""
    if served_child or not enabled():
        return None
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with client:
        try:
            client.connect(address(os.getcwd()))
            if peer_uid(client) != os.getuid():  # someone else's socket: tell it nothing
                return None
            request = {"module": module, "argv": argv, "cwd": os.getcwd(),
                       "env": dict(os.environ), "startup": startup(),
                       "fingerprint": fingerprint()}
            socket.send_fds(client, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
            replies = client.makefile("rb")
            started = _read_reply(replies)
        except (OSError, ValueError):
            return None
        if started.get("status") != "started":
            return None  # stale or refused: run cold
        try:
            child = os.pidfd_open(started["pid"])
        except OSError:  # it has finished already (and the server reaped it)
            child = None
        forward = {sig: signal.signal(sig, lambda signum, _: _signal(child, signum))
                   for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
        finished: dict = {}
        try:
            finished = _read_reply(replies)
        except (OSError, ValueError):
            pass
        finally:
            for sig, previous in forward.items():
                signal.signal(sig, previous)
        if child is not None:
            if "exit" not in finished:
                _signal(child, signal.SIGKILL)  # the server is gone: its child goes too
            os.close(child)
    if "exit" not in finished:
        print(f"error: the warm server stopped during {module}; run `dvc repro` again",
              file=sys.stderr)
        return 1
    code = finished["exit"]
    if code < 0:  # killed by a signal: die the same way, as a cold run would have
        with contextlib.suppress(OSError, ValueError):
            signal.signal(-code, signal.SIG_DFL)  # (SIGKILL cannot be caught anyway)
        os.kill(os.getpid(), -code)
    return code


def peer_uid(connection: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket."""
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return struct.unpack("3i", creds)[1]


def _read_reply(replies) -> dict:
    line = replies.readline()
    return json.loads(line) if line else {}


def _signal(pidfd: int | None, signum: int) -> None:
    if pidfd is not None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signum)
