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
    """Stage ``paths`` and commit; False when there was nothing to commit."""
    existing = [p for p in paths if Path(p).exists()]
    subprocess.run(["git", "add", "-A", "--", *existing], check=True)
    if subprocess.run(["git", "diff", "--cached", "--quiet"], check=False).returncode == 0:
        return False
    subprocess.run(["git", *_identity(), "commit", "-q", "-m", message], check=True)
    return True


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
