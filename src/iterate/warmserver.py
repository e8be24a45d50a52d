"""Warm stage runs, the server's side: keep the stages' libraries imported, fork a child per run.

`iterate loop` runs a server for its duration (:class:`Server`); `iterate warm` runs one in the
foreground for people running `dvc repro` by hand. The child runs with the stage's own argv,
working directory, environment and standard streams, so it writes the same bytes a cold run
writes. The server listens on an abstract Unix socket named after the repository, the
interpreter and the package (:func:`iterate.warm.address`), serves only its own user
(SO_PEERCRED) and its own code (:func:`iterate.warm.fingerprint`), and stops when its parent
(the loop) is gone, after ``idle`` seconds without a run, or when the code changed.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import select
import signal
import socket
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from iterate import warm

STAGE_PREFIX = "iterate.stages."
REFUSED = b'{"status": "refused"}\n'
MAX_REQUEST = 1 << 22  # bytes: a stage's argv and environment
_running: list[int] = []  # the pid of the stage run in progress, if any
LOG = ".dvc/tmp/warm.log"  # the loop's server writes a line per stage run here
PRELOAD = (  # what the stages import (not the stage modules: each run executes its own afresh)
    "pandas", "pyarrow.parquet", "scipy.stats", "sklearn.compose", "sklearn.ensemble",
    "sklearn.linear_model", "sklearn.metrics", "sklearn.pipeline", "sklearn.preprocessing",
    "matplotlib.figure", "matplotlib.backends.backend_agg", "iterate.drift", "iterate.evaluate",
    "iterate.gate", "iterate.compat", "iterate.models", "iterate.monitor", "iterate.plots",
    "iterate.training", "iterate.features", "iterate.store",
)


def serve(root: str | Path = ".", idle: float = 600.0, parent: int | None = None,
          announce: Callable[[], None] | None = None) -> bool:
    """Serve stage runs for ``root`` until ``parent`` exits, ``idle`` seconds pass without a
    run, or the code changes. False at once if a server for ``root`` is already up."""
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(warm.address(root))
    except OSError:  # EADDRINUSE: another server has this repository
        listener.close()
        return False
    signal.signal(signal.SIGTERM, _stop)  # stopped (by the loop): take the running stage along
    with listener:
        listener.listen(8)  # bound before the imports: an early stage waits instead of going cold
        if announce:
            announce()
        own = warm.fingerprint(), warm.startup()  # before the imports: edits made during count
        for name in PRELOAD:
            importlib.import_module(name)
        from iterate import models

        models.skops_io()  # skops.io without its scan of every estimator
        listener.settimeout(1.0)
        last_run = time.monotonic()
        while (parent is None or os.getppid() == parent) and time.monotonic() - last_run < idle:
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                served = _serve_one(connection, listener, own)
            if served is None:
                return True  # stale: the next stage runs cold, the loop starts a fresh server
            if served:
                last_run = time.monotonic()
    return True


def _stop(signum: int, frame) -> None:
    if _running:
        with contextlib.suppress(OSError):
            os.kill(_running[0], signal.SIGKILL)
    raise SystemExit(128 + signum)


def _serve_one(connection: socket.socket, listener: socket.socket,
               own: tuple[str, dict]) -> bool | None:
    """Serve one connection: True if a stage ran, False if not, None if the server must stop
    (its code is stale)."""
    reply = contextlib.suppress(OSError)
    connection.settimeout(10.0)
    fds: list[int] = []
    try:
        request, fds = _read_request(connection)  # read first: closing unread data resets
        if warm.peer_uid(connection) != os.getuid() or len(fds) != 3 or \
                not str(request.get("module", "")).startswith(STAGE_PREFIX) or \
                request.get("startup") != own[1]:
            connection.sendall(REFUSED)
            return False
        if request.get("fingerprint") != own[0] or warm.fingerprint() != own[0]:
            connection.sendall(b'{"status": "stale"}\n')
            return None
        sys.stdout.flush()
        sys.stderr.flush()
        started = time.monotonic()
        pid = os.fork()
        if pid == 0:
            _run_child(request, fds, (connection, listener))
        _running[:] = [pid]
        with reply:  # if the stage went away, _wait sees it and kills the child
            connection.sendall(json.dumps({"status": "started", "pid": pid}).encode() + b"\n")
    except (OSError, ValueError):  # a client that went away or sent garbage: next one
        return False
    finally:
        for fd in fds:
            os.close(fd)
    code = _wait(pid, connection)
    _running.clear()
    print(f"iterate warm: {request['module']} exited {code} after "
          f"{time.monotonic() - started:.2f} s", file=sys.stderr, flush=True)
    with reply:
        connection.sendall(json.dumps({"exit": code}).encode() + b"\n")
    return True


def _read_request(connection: socket.socket) -> tuple[dict, list[int]]:
    """The JSON line a stage sent, and the three file descriptors sent with it."""
    data, fds, _, _ = socket.recv_fds(connection, 1 << 16, 3)
    try:
        while data and not data.endswith(b"\n") and len(data) < MAX_REQUEST:
            chunk = connection.recv(1 << 16)
            if not chunk:
                break
            data += chunk
        request = json.loads(data)
        if not isinstance(request, dict):
            raise ValueError("not a request")
    except (OSError, ValueError):
        for fd in fds:
            os.close(fd)
        raise
    return request, fds


def _wait(pid: int, connection: socket.socket) -> int:
    """The child's exit code (negative: killed by that signal). If the stage's process goes
    away first (killed, or DVC cancelled), the child is killed too: no orphan keeps writing."""
    pidfd = os.pidfd_open(pid)
    try:
        while True:
            ready, _, _ = select.select([pidfd, connection], [], [])
            if pidfd in ready:
                break
            try:
                gone = connection.recv(1) == b""
            except OSError:
                gone = True
            if gone:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
                break
    finally:
        os.close(pidfd)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


def _run_child(request: dict, fds: list[int], inherited: tuple[socket.socket, ...]) -> None:
    """In the forked child: become the stage's process, run the stage module, exit."""
    warm.served_child = True
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # as in a fresh process
    code = 1
    try:
        for sock in inherited:
            sock.close()
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdout.reconfigure(line_buffering=os.isatty(1))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = ["-m", *request["argv"]]
        runpy.run_module(request["module"], run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        if isinstance(exc.code, str):
            print(exc.code, file=sys.stderr)
    except KeyboardInterrupt:  # Ctrl-C: report it and die of SIGINT, as Python itself does
        traceback.print_exc()
        code = -signal.SIGINT
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        if code < 0:
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code)


class Server:
    """A warm server beside the caller (the loop), restarted by :meth:`ensure` when it stopped
    (e.g. stale after a code change); nothing at all when unsupported or ITERATE_WARM=0."""

    def __init__(self, root: str | Path = "."):
        self.root = root
        self.process: subprocess.Popen | None = None

    def ensure(self) -> None:
        if not warm.enabled():
            return
        if self.process is None or self.process.poll() is not None:
            log = Path(self.root, LOG)
            log.parent.mkdir(parents=True, exist_ok=True)
            with log.open("a") as stderr:
                self.process = subprocess.Popen(
                    [sys.executable, "-m", "iterate.warmserver", "--parent", str(os.getpid())],
                    cwd=self.root, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                    stderr=stderr, start_new_session=True)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> Server:
        self.ensure()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> int:
    """``python -m iterate.warmserver --parent PID``: the server :class:`Server` starts."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m iterate.warmserver")
    parser.add_argument("--idle", type=float, default=600.0)
    parser.add_argument("--parent", type=int)
    args = parser.parse_args(argv)
    serve(".", idle=args.idle, parent=args.parent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
