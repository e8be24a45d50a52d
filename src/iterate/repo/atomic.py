"""Crash-safe file writes and a repository lock.

A file is written to a temporary sibling, flushed to disk and renamed over the target, so a
reader (or a process killed half-way) sees either the old bytes or the new ones, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
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


@contextlib.contextmanager
def repo_lock(root: str | Path = ".", what: str = "iterate",
              timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    """Hold an exclusive lock on the repository while a command changes data or models.

    A second command waits for the first (up to ``timeout`` seconds), then runs on the state
    the first left; the lock dies with its process, so a killed command never leaves it held.
    """
    path = Path(root) / ".iterate.lock"
    with open(path, "a+") as f:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
