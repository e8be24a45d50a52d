"""Crash-safe file writes and a repository lock.

A file is written to a temporary sibling, flushed to disk and renamed over the target, so a
reader (or a process killed half-way) sees either the old bytes or the new ones, never a mix.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from iterate.errors import IterateError


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
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    _fsync_dir(path.parent)


def replace_dir(source: Path, target: Path) -> None:
    """Make ``target`` a copy of ``source``; the old ``target`` stays whole until the swap.

    The copy is built beside ``target`` and swapped in with two renames; a crash between them
    leaves ``<target>.old`` in place, which :func:`recover_dir` puts back.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.new")
    old = target.with_name(f".{target.name}.old")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    for f in staging.rglob("*"):
        if f.is_file():
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        os.rename(target, old)
    os.rename(staging, target)
    _fsync_dir(target.parent)
    shutil.rmtree(old, ignore_errors=True)


def recover_dir(target: Path) -> None:
    """Finish or undo an interrupted :func:`replace_dir`."""
    old = target.with_name(f".{target.name}.old")
    staging = target.with_name(f".{target.name}.new")
    if old.exists():
        if target.exists():
            shutil.rmtree(old)
        else:
            os.rename(old, target)
    shutil.rmtree(staging, ignore_errors=True)


@contextlib.contextmanager
def repo_lock(root: str | Path = ".", what: str = "iterate") -> Iterator[None]:
    """Hold an exclusive lock on the repository for commands that change data or models."""
    path = Path(root) / ".iterate.lock"
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IterateError(
                f"{what}: another iterate command holds {path}; wait for it to finish"
            ) from None
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
