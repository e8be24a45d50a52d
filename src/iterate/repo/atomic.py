"""Crash-safe file writes and a repository lock.

A file is written to a temporary sibling, flushed to disk and renamed over the target, so a
reader (or a process killed half-way) sees either the old bytes or the new ones, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from iterate.errors import IterateError

LOCK_TIMEOUT = 600.0


def _file_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


FILE_MODE = _file_mode()


def write_bytes(path: str | Path, data: bytes) -> None:
    write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: str | Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def write_with(path: str | Path, writer: Callable[[str], object]) -> None:
    """Call ``writer(tmp_path)`` to produce the file, then move it over ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        writer(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp, FILE_MODE)  # mkstemp makes 0600 files; give the usual permissions
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def remove_stale_temporaries(folder: Path) -> list[str]:
    """Delete the temporary files a killed :func:`write_with` left in ``folder`` (call it only
    while holding :func:`repo_lock`, so no live write is touched)."""
    stale = sorted(folder.glob(".*.tmp")) if folder.is_dir() else []
    for path in stale:
        path.unlink(missing_ok=True)
    return [p.name for p in stale]


def staging_dir(target: Path) -> Path:
    return target.with_name(f".{target.name}.new")


def old_dir(target: Path) -> Path:
    return target.with_name(f".{target.name}.old")


def build_dir(target: Path, fill: Callable[[Path], object]) -> Path:
    """Build the next version of folder ``target`` beside it (``.<name>.new``), with every
    file flushed to disk, and return its path; ``target`` is not touched."""
    staging = staging_dir(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    fill(staging)
    for f in staging.rglob("*"):
        if f.is_file():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    _fsync_dir(staging)
    return staging


def swap_in(target: Path) -> None:
    """Replace ``target`` by its staged build with two renames. Idempotent, so an interrupted
    swap is finished by calling it again: at every instant either the old folder or the new
    one is whole, under ``target`` or beside it."""
    staging, old = staging_dir(target), old_dir(target)
    if staging.exists():
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            os.rename(target, old)
        os.rename(staging, target)
        _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def discard_staging(target: Path) -> None:
    """Drop a staged build that was never committed to (the old ``target`` stays)."""
    staging, old = staging_dir(target), old_dir(target)
    shutil.rmtree(staging, ignore_errors=True)
    if old.exists() and not target.exists():
        os.rename(old, target)
    shutil.rmtree(old, ignore_errors=True)


LOCK_FILE = ".iterate.lock"
DVC_TMP = Path(".dvc/tmp")
# What no output path given on the command line may point into: the repository's data, models,
# DVC's and git's own folders, and the files that define the pipeline.
PROTECTED = ("data/raw", "data/source", "data/quarantine", "models", ".dvc", ".git",
             "dvc.yaml", "dvc.lock", "params.yaml")


@contextlib.contextmanager
def repo_lock(root: str | Path = ".", what: str = "iterate",
              timeout: float = LOCK_TIMEOUT, swaps: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on the repository while a command changes data or models.

    A second command waits for the first (up to ``timeout`` seconds), then runs on the state
    the first left; the lock dies with its process, so a killed command never leaves it held.
    Stages hold the same lock shared (:func:`stage_lock`), so a command waits for a running
    stage too. A command that ``swaps`` what stages read (promote, rollback, land: all but
    the read-only ones) refuses while a DVC command such as ``dvc repro`` runs in the
    repository, between its stages as well.
    """
    if swaps:
        _refuse_while_dvc_runs(root, what, stages_only=True)  # before waiting for a stage
    with _flocked(Path(root) / LOCK_FILE, fcntl.LOCK_EX, what, timeout):
        if swaps:
            _refuse_while_dvc_runs(root, what)
        yield


@contextlib.contextmanager
def stage_lock(root: str | Path = ".", what: str = "stage",
               timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold the repository lock shared while a DVC stage runs: stages run side by side (``dvc
    repro`` may run several), a promote, rollback or landing waits for them, and a stage started
    during one waits until it is done."""
    with _flocked(Path(root) / LOCK_FILE, fcntl.LOCK_SH, what, timeout):
        yield


@contextlib.contextmanager
def _flocked(path: Path, mode: int, what: str, timeout: float) -> Iterator[None]:
    with open(path, "a+") as f:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(f, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise IterateError(f"{what}: another iterate command has held {path} for "
                                       f"{timeout:.0f} s; wait for it to finish") from None
                if not told:
                    print(f"{what}: waiting for another iterate command to finish",
                          file=sys.stderr)
                    told = True
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _refuse_while_dvc_runs(root: str | Path, what: str, stages_only: bool = False) -> None:
    running = dvc_running(root, stages_only=stages_only)
    if running:
        raise IterateError(f"{what}: {running} is running in this repository; wait for it to "
                           f"finish, then run {what} again")


def dvc_running(root: str | Path = ".", stages_only: bool = False) -> str | None:
    """The DVC command running in the repository at ``root`` now, or None.

    DVC holds its repository lock (``.dvc/tmp/lock``) for a whole ``dvc repro`` except while a
    stage's command runs, and records each running stage in ``.dvc/tmp/rwlock`` (with its pid)
    for at least that long, editing that file only under ``.dvc/tmp/rwlock.lock``. So, holding
    that guard, a live pid in the file or a held repository lock means a DVC command runs;
    neither means none does. Both locks die with their process, and a dead pid in the file is
    ignored, so a killed ``dvc repro`` leaves nothing that blocks. ``stages_only``: look at the
    running stages only (another iterate command may be running a short ``dvc add``).
    """
    tmp = Path(root) / DVC_TMP
    if not tmp.is_dir():
        return None
    with _try_flock(tmp / "rwlock.lock") as free:
        if not free:
            return "a DVC command"
        for pid, cmd in _rwlock_holders(tmp / "rwlock"):
            if pid != os.getpid() and _alive(pid):
                return f"`{cmd}` (pid {pid})"
        if stages_only:
            return None
        with _try_flock(tmp / "lock") as free:
            if not free:
                pid = (tmp / "lock").read_text(errors="replace").strip().split(" ")[0]
                return f"a DVC command (pid {pid or '?'})"
    return None


@contextlib.contextmanager
def _try_flock(path: Path) -> Iterator[bool]:
    """Take ``path``'s lock if free (as DVC's zc.lockfile does: flock), and yield whether it
    was; the lock is released on leaving."""
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _rwlock_holders(path: Path) -> list[tuple[int, str]]:
    """(pid, command) of every stage DVC's rwlock file says is reading or writing."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    infos: list = []
    for mode in ("read", "write"):
        for value in (data.get(mode) or {}).values() if isinstance(data, dict) else []:
            infos.extend(value if isinstance(value, list) else [value])
    holders = []
    for info in infos:
        if isinstance(info, dict) and isinstance(info.get("pid"), int):
            holders.append((info["pid"], _dvc_command(str(info.get("cmd", "")))))
    return holders


def _dvc_command(argv: str) -> str:
    """``dvc repro`` from the command line DVC recorded (``/venv/bin/dvc repro``, ``python -m
    dvc repro`` or ``.../dvc/__main__.py repro``)."""
    words = argv.split()
    for i, word in enumerate(words):
        if Path(word).name == "dvc" or word.endswith("dvc/__main__.py"):
            return " ".join(["dvc", *words[i + 1:]])
    return argv or "a DVC command"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True


def user_output(path: Path, what: str) -> Path:
    """Refuse, in one line, an output path given by the user that points (through links too)
    into the repository's data, models, DVC or git folders; return it otherwise."""
    here = Path.cwd().resolve()
    target = path.resolve()
    for name in PROTECTED:
        protected = (here / name).resolve()
        if target == protected or protected in target.parents:
            raise IterateError(f"{what}: {path} is inside {name}, which only iterate and DVC "
                               "write; give an output path outside it")
    return path


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
