"""Shared fixtures: a throw-away copy of this repository with its own git history."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "test", "GIT_AUTHOR_EMAIL": "test@localhost",
                "GIT_COMMITTER_NAME": "test", "GIT_COMMITTER_EMAIL": "test@localhost"}


@pytest.fixture(autouse=True, scope="session")
def _allow_list_cache(tmp_path_factory):
    """The tests' derived allow-lists go to a folder of this run, not the user's ~/.cache (the
    variable reaches every subprocess the tests start)."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("cache"))


def template_files() -> list[str]:
    """The files a clone of this repository has (tracked, or new and not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (ROOT / f).is_file()]


class Repo:
    """A temporary copy of the template, run as a user would (``iterate``, ``dvc``, ``git``)."""

    def __init__(self, path: Path):
        self.path = path
        self.env = {**os.environ, **GIT_IDENTITY,
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                    "PYTHONPATH": str(path / "src")}

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(list(args), cwd=self.path, env=self.env, capture_output=True,
                                text=True, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(args)} exited {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def iterate(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "iterate.commands.cli", *args, check=check)

    def dvc(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run(sys.executable, "-m", "dvc", *args, check=check)

    def git(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return self.run("git", *args, check=check)

    def set_params(self, **changes: object) -> None:
        """Change params.yaml: ``set_params(**{"split.window": 2})``."""
        set_params(self.path / "params.yaml", changes)


def set_params(path: Path, changes: dict[str, object]) -> None:
    """Set dotted keys of a params file, e.g. ``{"split.window": 2}``."""
    data = yaml.safe_load(path.read_text())
    for dotted, value in changes.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        node[last] = value
    path.write_text(yaml.safe_dump(data, sort_keys=False))


@pytest.fixture
def template_repo(tmp_path: Path) -> Repo:
    """A fresh copy of the template in its initial state, committed in a new git repository,
    with its DVC remote pointing into the temporary folder; every batch trains a candidate
    (``trigger.when: always``), which the histories of the deployment, crash and review tests
    are made of."""
    return make_template_repo(tmp_path)


@pytest.fixture
def shipped_repo(tmp_path: Path) -> Repo:
    """``template_repo`` with the params exactly as shipped (the trigger on ``auto``)."""
    return make_template_repo(tmp_path, trigger=None)


def make_template_repo(tmp_path: Path, trigger: str | None = "always") -> Repo:
    """The ``template_repo`` fixture's repository, in ``tmp_path``/repo (``trigger``: its
    ``trigger.when``; None: as shipped)."""
    path = tmp_path / "repo"
    for name in template_files():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    repo = Repo(path)
    repo.git("init", "-q", "-b", "main")
    repo.dvc("remote", "modify", "--local", "local", "url", str(tmp_path / "dvc-storage"))
    if trigger is not None:  # the file's own text changed, its comments kept
        params_file = path / "params.yaml"
        text = params_file.read_text()
        assert text.count("\n  when: auto ") == 1, "trigger.when moved: update this fixture"
        params_file.write_text(text.replace("\n  when: auto ", f"\n  when: {trigger} "))
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "template")
    return repo
