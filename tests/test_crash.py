"""Crashes at any point: SIGKILL inside land, promote, rollback and the DVC stages, then check
that nothing is half-written or lost and that the next run recovers by itself.

The kill points are every change to the file system the process makes (each rename, folder
removal and subprocess such as `dvc add`), injected by tests/crashkit/sitecustomize.py.
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import Repo, make_template_repo
from helpers import SGD_PARAMS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CRASHKIT = Path(__file__).parent / "crashkit"
KILLED = -signal.SIGKILL


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    """A repository with v1.0.0 in production and a new candidate judged by the gate."""
    repo = small_repo(tmp_path_factory.mktemp("crash"))
    path = repo.path
    repo.iterate("replay", "--through", "2013-01-08")
    repo.dvc("repro")
    repo.iterate("promote")
    repo.iterate("replay", "--next")
    repo.dvc("repro")
    repo.git("add", "-A")
    repo.git("commit", "-qm", "v1.0.0 in production, a candidate waiting")
    return path


def copy_of(base: Path, name: str) -> Repo:
    target = base.parent / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(base, target, symlinks=True)
    return Repo(target)


def killed_at(repo: Repo, point: int, *args: str, only: str = "") -> bool:
    """Run ``iterate ARGS`` (or, with ``only``, ``dvc repro``) armed to die at ``point``;
    True if it was killed, False if it finished first."""
    env = {**repo.env, "PYTHONPATH": f"{CRASHKIT}:{repo.env['PYTHONPATH']}",
           "ITERATE_KILL_AT": str(point), "ITERATE_KILL_ONLY": only}
    command = [sys.executable, "-m", "dvc", "repro"] if only else \
        [sys.executable, "-m", "iterate.commands.cli", *args]
    result = subprocess.run(command, cwd=repo.path, env=env, capture_output=True, text=True,
                            check=False)
    if only:  # dvc reports its stage's death as a failed stage
        return result.returncode != 0
    assert result.returncode in (0, KILLED), result.stderr
    return result.returncode == KILLED


def digest(path: Path) -> str:
    if not path.exists():
        return "absent"
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return hashlib.sha256("".join(f"{p.relative_to(path)}:{digest(p)}" for p in sorted(
        path.rglob("*")) if p.is_file()).encode()).hexdigest()


def models_state(repo: Repo) -> dict[str, str]:
    return {name: digest(repo.path / "models" / name)
            for name in ("production", "production.dvc", "registry.yaml", "CHANGELOG.md")}


def assert_whole_and_consistent(repo: Repo) -> list[dict]:
    """Production's bytes are the registry's current version, and DVC agrees."""
    registry = yaml.safe_load((repo.path / "models/registry.yaml").read_text())["versions"]
    meta = json.loads((repo.path / "models/production/model.json").read_text())
    model = repo.path / "models/production/model.skops"
    assert hashlib.sha256(model.read_bytes()).hexdigest() == meta["sha256"], "half-written"
    assert meta["sha256"] == registry[-1]["model_sha256"], "production and registry disagree"
    status = json.loads(repo.dvc("status", "--json", "models/production.dvc").stdout)
    assert status == {}, f"models/production.dvc does not match the folder: {status}"
    leftovers = [p.name for p in (repo.path / "models").iterdir() if p.name.startswith(".")
                 and p.name != ".gitignore"]
    assert not leftovers, f"left behind: {leftovers}"
    return registry


def crash_everywhere(base: Path, name: str, args: list[str], check) -> int:
    """Kill the command at each of its points in turn, recover, and ``check`` the outcome."""
    point = 1
    while True:
        repo = copy_of(base, f"{name}-{point}")
        before = models_state(repo)
        was_killed = killed_at(repo, point, *args)
        repo.iterate("history")  # any next run recovers first
        check(repo, before, was_killed)
        shutil.rmtree(repo.path)
        if not was_killed:
            return point
        point += 1


def test_promote_killed_anywhere_leaves_production_and_registry_wholly_old_or_new(base):
    def check(repo, before, was_killed):
        registry = assert_whole_and_consistent(repo)
        after = models_state(repo)
        if len(registry) == 1:
            assert after == before, "an abandoned promotion must change nothing"
        else:
            assert [e["version"] for e in registry] == ["1.0.0", "1.0.1"]
        assert was_killed or len(registry) == 2

    points = crash_everywhere(base, "promote", ["promote", "--force", "--reason", "crash test"],
                              check)
    assert points >= 6, "the harness reached too few kill points to mean anything"


def test_rollback_killed_anywhere_leaves_production_and_registry_wholly_old_or_new(base):
    promoted = copy_of(base, "promoted")
    promoted.iterate("promote", "--force", "--reason", "so there is something to roll back")

    def check(repo, before, was_killed):
        registry = assert_whole_and_consistent(repo)
        if registry[-1]["action"] == "promote":
            assert models_state(repo) == before
        else:
            assert registry[-1]["version"] == "1.0.0" and len(registry) == 3
        assert was_killed or registry[-1]["action"] == "rollback"

    crash_everywhere(promoted.path, "rollback", ["rollback", "1.0.0", "--reason", "crash"], check)


def test_land_killed_anywhere_loses_and_duplicates_no_batch(base):
    point = 1
    while True:
        repo = copy_of(base, f"land-{point}")
        before = sorted(p.name for p in (repo.path / "data/raw").glob("*.parquet"))
        was_killed = killed_at(repo, point, "replay", "--next")
        if was_killed:  # the next run recovers and lands what is missing, once
            repo.iterate("replay", "--through", "2013-01-28")
        after = sorted(p.name for p in (repo.path / "data/raw").glob("*.parquet"))
        assert after == [*before, "2013-01-22_2013-01-28.parquet"]
        assert not list((repo.path / "data/raw").glob(".*")), "a temporary file was left"
        status = json.loads(repo.dvc("status", "--json", "data/raw.dvc").stdout)
        assert status == {}, "data/raw.dvc does not record what landed"
        shutil.rmtree(repo.path)
        if not was_killed:
            break
        point += 1
    assert point >= 3


# The train stage's first writes are its drift step's; evaluate's last, its gate step's.
@pytest.mark.parametrize(("stage", "point"), [("train", 2), ("train", 8), ("evaluate", 1),
                                             ("evaluate", 6)])
def test_a_stage_killed_mid_write_is_redone_by_the_next_repro(base, stage, point):
    repo = copy_of(base, f"{stage}-{point}")
    repo.iterate("replay", "--next")
    before = models_state(repo)
    assert killed_at(repo, point, only=f"stages/{stage}.py"), "the harness did not reach it"
    assert models_state(repo) == before, "a stage never touches production or the registry"
    repo.dvc("repro")
    assert json.loads(repo.dvc("status", "--json").stdout) == {}
    assert json.loads((repo.path / "metrics/gate.json").read_text())["verdict"]


def test_two_lands_at_once_both_land_one_after_the_other(base, tmp_path):
    repo = copy_of(base, "concurrent")
    source = repo.path / "data/source/flights_weather_2013.csv.gz"
    import pandas as pd

    rows = pd.read_csv(source, dtype=str, keep_default_na=False, nrows=60000)
    files = []
    for week, (start, end) in enumerate([("2013-01-22", "2013-01-29"),
                                         ("2013-01-29", "2013-02-05")]):
        part = rows[(rows["time_hour"] >= start) & (rows["time_hour"] < end)]
        files.append(tmp_path / f"week{week}.csv")
        part.to_csv(files[-1], index=False)
    processes = [subprocess.Popen([sys.executable, "-m", "iterate.commands.cli", "land", str(f)],
                                  cwd=repo.path, env=repo.env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for f in files]
    results = [p.communicate(timeout=300) + (p.returncode,) for p in processes]
    assert [r[2] for r in results] == [0, 0], results
    landed = sorted(p.name for p in (repo.path / "data/raw").glob("*.parquet"))
    assert "2013-01-22_2013-01-28.parquet" in landed and "2013-01-29_2013-02-04.parquet" in landed
    assert json.loads(repo.dvc("status", "--json", "data/raw.dvc").stdout) == {}


# ---------------------------------------------------------------- recovery never wedges

WEDGE = """
import json, shutil
from iterate.repo import atomic, bundles, deploy
from iterate.repo.layout import CANDIDATE, PRODUCTION
entries = deploy.read_registry()
meta = bundles.read_meta(CANDIDATE)
new = {**entries[-1], "version": "1.0.1", "model_sha256": meta["sha256"], "dvc": {}}
del new["time"]  # the registry entry missing a key that wedged every command
atomic.build_dir(PRODUCTION, lambda s: shutil.copytree(CANDIDATE, s, dirs_exist_ok=True))
atomic.write_text(deploy.JOURNAL, json.dumps({"action": "promote", "entries": [*entries, new]}))
atomic.swap_in(PRODUCTION)  # killed here: production swapped, journal left
"""


def one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_a_journal_that_cannot_be_finished_names_itself_and_the_way_out_and_abandons(base):
    repo = copy_of(base, "wedged")
    registered = yaml.safe_load((repo.path / "models/registry.yaml").read_text())["versions"]
    repo.run(sys.executable, "-c", WEDGE)
    journal = repo.path / "models/.deploy-journal.json"
    assert journal.is_file()

    for args in (["replay", "--next"], ["promote", "--force", "--reason", "x"], ["recover"],
                 ["rollback", "1.0.0", "--reason", "x"]):
        result = repo.iterate(*args, check=False)
        line = one_line(result)
        assert result.returncode == 2, args
        assert "models/.deploy-journal.json" in line and "versions[1]: key 'time' is missing" \
            in line and "`iterate recover --abandon`" in line, line
    for args in (["history"], ["gate"], ["report", "-o", "report/pr.md"]):
        result = repo.iterate(*args, check=False)
        assert result.returncode in (0, 1), (args, result.stderr)  # gate: 1 is a reject
        assert "`iterate recover --abandon`" in one_line(result), args
    assert "1.0.0" in repo.iterate("history").stdout

    done = repo.iterate("recover", "--abandon")
    assert done.stdout.strip() == ("recover: dropped the journal; production is v1.0.0, as "
                                   "models/registry.yaml says")
    assert not journal.exists()
    assert assert_whole_and_consistent(repo) == registered
    assert repo.iterate("recover").stdout.strip() == "recover: nothing was interrupted"
    repo.iterate("promote", "--force", "--reason", "after the wedge")
    assert [e["version"] for e in assert_whole_and_consistent(repo)] == ["1.0.0", "1.0.1"]


def test_a_corrupt_registry_is_one_line_for_every_command_that_reads_it(base):
    repo = copy_of(base, "corrupt-registry")
    path = repo.path / "models/registry.yaml"
    path.write_text(path.read_text() + "  - version: [\n")
    for args in (["history"], ["promote", "--force", "--reason", "x"], ["recover", "--abandon"],
                 ["predict", "data/source/flights_weather_2013.csv.gz", "-o", "out.csv"]):
        result = repo.iterate(*args, check=False)
        assert result.returncode == 2, args
        assert one_line(result).startswith("error: models/registry.yaml:"), result.stderr
        assert "not valid JSON" in result.stderr  # the registry is JSON, an entry a line


# ---------------------------------------------------------------- one lock for the repository


def test_promote_rollback_and_land_refuse_while_dvc_repro_runs_and_change_nothing(base):
    repo = copy_of(base, "during-repro")
    repo.iterate("promote", "--force", "--reason", "a version to roll back to")
    repo.iterate("replay", "--next")
    before = models_state(repo)
    raw = sorted(p.name for p in (repo.path / "data/raw").iterdir())
    repro = subprocess.Popen([sys.executable, "-m", "dvc", "repro"], cwd=repo.path,
                             env=repo.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        from iterate.repo import atomic

        deadline = time.monotonic() + 60
        while atomic.dvc_running(repo.path) is None:
            assert repro.poll() is None and time.monotonic() < deadline, "repro never started"
            time.sleep(0.05)
        for args in (["promote", "--force", "--reason", "x"],
                     ["rollback", "1.0.0", "--reason", "x"], ["replay", "--next"]):
            result = repo.iterate(*args, check=False)
            assert result.returncode == 2, (args, result.stderr)
            line = one_line(result)
            assert "`dvc repro` (pid" in line or "a DVC command" in line, line
            assert "is running in this repository; wait for it to finish" in line, line
        assert repro.poll() is None, "the repro ended before every command was tried"
    finally:
        assert repro.wait(timeout=300) == 0, repro.communicate()
    assert models_state(repo) == before, "production, registry and changelog unchanged"
    assert sorted(p.name for p in (repo.path / "data/raw").iterdir()) == raw
    repo.iterate("promote", "--force", "--reason", "after the repro")


# ---------------------------------------------------------------- the loop resumes


def loop_repo(tmp_path_factory) -> Repo:
    return small_repo(tmp_path_factory.mktemp("loopcrash"))


def small_repo(folder: Path) -> Repo:
    """A template copy with two warm-up batches and the quick SGD logistic model, committed."""
    repo = make_template_repo(folder)
    repo.set_params(**{"replay.warmup_batches": 2, **SGD_PARAMS})
    repo.git("commit", "-qam", "small and quick")
    return repo


def test_loop_killed_at_random_points_judges_and_commits_every_landed_batch_once(
        tmp_path_factory):
    repo = loop_repo(tmp_path_factory)
    rng = random.Random(11)
    kills = sum(killed_at(repo, rng.randint(1, 12), "loop", "--iterations", "1")
                for _ in range(14))  # each trial resumes what the one before left
    assert kills >= 10, "too few of the trials were killed to mean anything"
    repo.iterate("loop", "--iterations", "1")

    landed = sorted(p.stem for p in (repo.path / "data/raw").glob("*.parquet"))
    history = pd.read_csv(repo.path / "plots/monitor/performance.csv")["batch"].tolist()
    # The warm-up batches: the first trains, the second is judged with no production yet.
    assert sorted(history) == landed[2:], "one verdict row for each batch judged by production"
    subjects = repo.git("log", "--format=%s").stdout.splitlines()
    for batch in landed[1:]:
        assert sum(f"({batch})" in s for s in subjects) == 1, (batch, subjects)
    assert_whole_and_consistent(repo)
    assert json.loads(repo.dvc("status", "--json", "data/raw.dvc").stdout) == {}
    assert repo.git("status", "--porcelain").stdout.strip() == ""
