"""The few DVC and git commands the loop runs, as subprocesses of this environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from iterate.errors import IterateError

FALLBACK_IDENTITY = ["-c", "user.name=iterate", "-c", "user.email=iterate@localhost"]


def tool_env() -> dict[str, str]:
    """The environment with this interpreter's bin folder first, so DVC stages' ``python``
    is the one iterate runs in."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def dvc(*args: str, capture: bool = False) -> str:
    """Run ``dvc ARGS`` and return its output (when captured); raise on failure.

    ``--quiet`` is not passed on (DVC would keep its error to itself too): the output is
    captured instead, so that a failure still says why."""
    quiet = "--quiet" in args
    args = tuple(a for a in args if a != "--quiet")
    command = [sys.executable, "-m", "dvc", *args]
    result = subprocess.run(command, env=tool_env(), text=True,
                            capture_output=capture or quiet, check=False)
    if result.returncode != 0:
        said = f"{result.stderr or ''}\n{result.stdout or ''}".strip().splitlines()
        detail = [line for line in said if line.startswith("ERROR")][-1:] or said[-1:]
        raise IterateError(f"`dvc {' '.join(args)}` failed (exit {result.returncode})"
                           + (f": {detail[0]}" if detail else "; see its output above"))
    return result.stdout or ""


def require_dvc_repo(root: Path = Path(".")) -> None:
    if not (root / ".dvc").is_dir() or not (root / "dvc.yaml").is_file():
        raise IterateError(f"{root.resolve()}: not the top folder of an iterate repository "
                           "(no .dvc/ or dvc.yaml); cd into the repository first")


def in_git_repo() -> bool:
    result = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], capture_output=True,
                            text=True, check=False)
    return result.returncode == 0 and result.stdout.strip() == "true"


def git_head() -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def git_changed(path: Path) -> bool:
    """Whether ``path`` differs from the last commit (changed, new, or deleted)."""
    result = subprocess.run(["git", "status", "--porcelain", "--", str(path)],
                            capture_output=True, text=True, check=True)
    return bool(result.stdout.strip())


def git_commit(message: str, paths: list[str]) -> bool:
    """Stage ``paths`` and commit them, and only them (whatever else is staged stays staged);
    False when they hold nothing to commit."""
    existing = [p for p in paths if Path(p).exists()]
    if not existing:
        return False
    subprocess.run(["git", "add", "-A", "--", *existing], check=True)
    known = _git_lines("ls-files", "--", *existing)  # an empty folder is no pathspec for git
    tracked = [p for p in existing if any(_within(f, [p]) for f in known)]
    if not tracked or subprocess.run(["git", "diff", "--cached", "--quiet", "--", *tracked],
                                     check=False).returncode == 0:
        return False
    subprocess.run(["git", *_identity(), "commit", "-q", "-m", message, "--", *tracked],
                   check=True)
    return True


def git_foreign_changes(owned: list[str]) -> list[str]:
    """Changed tracked files and untracked, non-ignored files outside ``owned`` (paths or
    folders), as ``git status`` names them."""
    out = subprocess.run(["git", "status", "--porcelain=v1", "-z", "--untracked-files=all"],
                         capture_output=True, text=True, check=True).stdout
    names, records = [], iter(out.split("\0"))
    for record in records:
        if not record:
            continue
        names.append(record[3:])
        if record[0] in "RC":  # a rename or copy: its source path follows
            names.append(next(records, ""))
    return [n for n in dict.fromkeys(names) if n and not _within(n, owned)]


def _within(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def _git_lines(*args: str) -> list[str]:
    result = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    return result.stdout.splitlines() if result.returncode == 0 else []


def git_branch() -> str | None:
    """The branch checked out, or None when HEAD is detached."""
    lines = _git_lines("symbolic-ref", "--quiet", "--short", "HEAD")
    return lines[0] if lines else None


def git_rev(ref: str) -> str | None:
    """The commit ``ref`` names, or None when there is none."""
    lines = _git_lines("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return lines[0] if lines else None


def git_file_everywhere(path: str) -> list[str]:
    """The distinct contents of ``path`` at the tip of every branch, remote branch and tag."""
    refs = _git_lines("for-each-ref", "--format=%(objectname)", "refs/heads", "refs/remotes",
                      "refs/tags")
    if not refs:
        return []
    batch = subprocess.run(["git", "cat-file", "--batch"], capture_output=True, check=False,
                           input="".join(f"{r}:{path}\n" for r in dict.fromkeys(refs)).encode())
    contents, data, seen = [], batch.stdout, set()
    while data:
        header, _, data = data.partition(b"\n")
        words = header.split()
        if len(words) != 3:  # "<name> missing": no such file at that ref
            continue
        size = int(words[2])
        if words[0] not in seen:
            seen.add(words[0])
            contents.append(data[:size].decode("utf-8", errors="replace"))
        data = data[size + 1:]
    return contents


def _identity() -> list[str]:
    """No identity configured (a fresh CI machine): commit as "iterate" rather than fail."""
    configured = subprocess.run(["git", "config", "user.email"], capture_output=True,
                                check=False).returncode == 0
    return [] if configured else FALLBACK_IDENTITY


def git_tag(name: str, message: str, ref: str = "HEAD") -> None:
    """An annotated tag (GTO reads annotated tags)."""
    result = subprocess.run(["git", *_identity(), "tag", "-a", name, "-m", message, ref],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise IterateError(f"git tag {name} failed: {result.stderr.strip()}")


def git_tags(pattern: str) -> list[str]:
    result = subprocess.run(["git", "tag", "--list", pattern], capture_output=True, text=True,
                            check=False)
    return result.stdout.split()
