"""The repository lock: commands that swap what stages read refuse while DVC runs in the
repository, stages hold the lock shared, nothing stale is left by a killed process, and no
output path given by the user reaches into the repository's own folders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zc.lockfile

from iterate.commands import cli
from iterate.errors import IterateError
from iterate.repo import atomic, vcs


@pytest.fixture
def dvc_tmp(tmp_path, monkeypatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dvc" / "tmp").mkdir(parents=True)
    return tmp_path / ".dvc" / "tmp"


def sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def write_rwlock(tmp: Path, pid: int) -> None:
    info = {"pid": pid, "cmd": "/venv/bin/python -m dvc repro"}
    (tmp / "rwlock").write_text(json.dumps({"read": {"data/raw": [info]},
                                            "write": {"data/prepared": info}}))


def test_nothing_running_is_none(dvc_tmp):
    assert atomic.dvc_running() is None


def test_dvc_holding_its_repository_lock_is_running(dvc_tmp):
    lock = zc.lockfile.LockFile(str(dvc_tmp / "lock"))  # what every DVC command takes
    try:
        assert atomic.dvc_running() == f"a DVC command (pid {os.getpid()})"
        assert atomic.dvc_running(stages_only=True) is None
    finally:
        lock.close()
    assert atomic.dvc_running() is None, "a released (or killed) lock blocks nothing"


def test_a_stage_recorded_by_a_live_dvc_repro_is_running(dvc_tmp):
    dvc = sleeper()
    try:
        write_rwlock(dvc_tmp, dvc.pid)
        assert atomic.dvc_running() == f"`dvc repro` (pid {dvc.pid})"
        assert atomic.dvc_running(stages_only=True) == f"`dvc repro` (pid {dvc.pid})"
    finally:
        dvc.kill()
        dvc.wait()
    assert atomic.dvc_running() is None, "a killed repro's entry is ignored"


def test_dvc_editing_its_rwlock_counts_as_running(dvc_tmp):
    guard = zc.lockfile.LockFile(str(dvc_tmp / "rwlock.lock"))
    try:
        assert atomic.dvc_running() == "a DVC command"
    finally:
        guard.close()


def test_a_swapping_command_refuses_in_one_line_while_dvc_runs(dvc_tmp):
    dvc = sleeper()
    try:
        write_rwlock(dvc_tmp, dvc.pid)
        with pytest.raises(IterateError) as caught, atomic.repo_lock(what="promote"):
            pass
    finally:
        dvc.kill()
        dvc.wait()
    assert str(caught.value) == (f"promote: `dvc repro` (pid {dvc.pid}) is running in this "
                                 "repository; wait for it to finish, then run promote again")


def test_a_read_only_command_is_not_refused_while_dvc_runs(dvc_tmp):
    lock = zc.lockfile.LockFile(str(dvc_tmp / "lock"))
    try:
        with atomic.repo_lock(what="history", swaps=False):
            pass
    finally:
        lock.close()


STAGE = """
import sys, time
from iterate.repo import atomic
with atomic.stage_lock(what="stage train"):
    print("ran", time.monotonic(), flush=True)
"""


def test_a_stage_started_during_a_promote_waits_for_it(dvc_tmp):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    with atomic.repo_lock(what="promote"):
        stage = subprocess.Popen([sys.executable, "-c", STAGE], env=env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        time.sleep(1.5)
        assert stage.poll() is None, "the stage ran while the promote held the lock"
        released = time.monotonic()
    out, err = stage.communicate(timeout=30)
    assert float(out.split()[1]) >= released
    assert "stage train: waiting for another iterate command to finish" in err


def test_stages_hold_the_lock_shared_so_they_run_side_by_side(dvc_tmp):
    with atomic.stage_lock(), atomic.stage_lock():
        pass


def test_a_quiet_dvc_command_that_fails_says_why(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    subprocess.run(["git", "init", "-q"], check=True)
    vcs.dvc("init", "--quiet")
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a").write_text("x")
    lock = zc.lockfile.LockFile(str(tmp_path / ".dvc" / "tmp" / "lock"))
    try:
        with pytest.raises(IterateError) as caught:
            vcs.dvc("add", "--quiet", "d")
    finally:
        lock.close()
    assert "`dvc add d` failed (exit 1): ERROR: Unable to acquire lock" in str(caught.value)


@pytest.mark.parametrize("output", [
    "models/production/model.skops", "models/registry.yaml", "data/raw/x.parquet",
    ".dvc/config", "./models/../models/x.csv", "dvc.lock", "params.yaml", ".git/HEAD",
    "data/source/flights.csv"])
def test_predict_refuses_an_output_path_inside_the_repositorys_own_folders(
        tmp_path, monkeypatch, capsys, output):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a\n1\n")
    (tmp_path / "models" / "production").mkdir(parents=True)
    (tmp_path / "models" / "production" / "model.skops").write_bytes(b"model")

    code = cli.main(["predict", "in.csv", "-o", output])

    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1
    assert f"predict: {Path(output)} is inside " in err and "give an output path outside it" in err
    assert (tmp_path / "models/production/model.skops").read_bytes() == b"model"


def test_an_output_path_through_a_link_into_models_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.csv").write_text("a\n1\n")
    (tmp_path / "models").mkdir()
    (tmp_path / "out").symlink_to(tmp_path / "models")

    assert cli.main(["predict", "in.csv", "-o", "out/scored.csv"]) == 2
    assert "out/scored.csv is inside models" in capsys.readouterr().err


def test_monitor_and_report_refuse_an_output_inside_models(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "gate.json").write_text('{"verdict": "keep", "reasons": []}')

    assert cli.main(["monitor", "-o", "models/drift.json"]) == 2
    assert cli.main(["report", "-o", "models/report.md"]) == 2
    err = capsys.readouterr().err
    assert "monitor: models/drift.json is inside models" in err
    assert "report: models/report.md is inside models" in err
