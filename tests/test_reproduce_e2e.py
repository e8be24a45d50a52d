"""Every committed iteration reproduces. Four iterations of the loop (the first model, a forced
promotion, a forced rejection, one after a rollback) and the rollback's own commit; on each
commit `dvc status` is clean, and `git checkout C && dvc checkout && dvc repro` runs no stage
and changes no file; the monitoring histories only ever grow. Plus the loop's refusal to start
on changes it does not own (fast: it refuses before landing anything)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

FAST = {"replay.warmup_batches": 2, "split.window": 2, "evaluate.resamples": 200,
        "model.params.max_iter": 20}
ANY_CANDIDATE_PASSES = {"gate.max_age": 0, "gate.rules.roc_auc.margin": 1.0,
                        "gate.rules.f1.margin": 1.0, "gate.rules.log_loss.margin": 10.0,
                        "gate.slices.margin": 1.0}
HISTORIES = ("plots/monitor/performance.csv", "plots/monitor/drift.csv")


def workspace_digest(root: Path) -> dict[str, str]:
    """Every file of the workspace but git's and DVC's own state, by SHA-256."""
    skip = (".git", ".dvc/tmp", ".dvc/cache")
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()
            and not str(p.relative_to(root)).startswith(skip)}


def head(repo) -> str:
    return repo.git("rev-parse", "HEAD").stdout.strip()


def histories(repo) -> dict[str, list[str]]:
    return {h: (repo.path / h).read_text().splitlines() for h in HISTORIES
            if (repo.path / h).is_file()}


def loop_once(repo) -> str:
    repo.iterate("loop", "--iterations", "1")
    return head(repo)


def commit_params(repo, changes: dict, message: str) -> None:
    repo.set_params(**changes)
    repo.git("commit", "-qm", message, "params.yaml")


@pytest.mark.slow
def test_every_commit_of_the_loop_promote_and_rollback_reproduces(template_repo):
    repo = template_repo
    commit_params(repo, FAST, "fast params")
    commits: dict[str, str] = {}
    seen: dict[str, dict[str, list[str]]] = {}

    def committed(name: str, commit: str) -> None:
        assert repo.git("status", "--porcelain").stdout == "", f"{name}: all committed"
        assert json.loads(repo.dvc("status", "--json").stdout) == {}, f"{name}: dvc status"
        commits[name] = commit
        seen[name] = histories(repo)

    committed("first model", loop_once(repo))
    commit_params(repo, ANY_CANDIDATE_PASSES, "a gate any candidate passes")
    committed("promotion", loop_once(repo))
    commit_params(repo, {"gate.rules.roc_auc.min_improvement": 0.5}, "a gate none passes")
    committed("rejection", loop_once(repo))
    repo.iterate("rollback", "1.0.0", "--reason", "back to the first model", "--tag")
    committed("rollback", head(repo))
    commit_params(repo, {"gate.rules.roc_auc.min_improvement": None}, "the gate again")
    committed("after the rollback", loop_once(repo))

    gates = {name: json.loads(repo.git("show", f"{c}:metrics/gate.json").stdout)
             for name, c in commits.items()}
    assert gates["first model"]["verdict"] == "no_baseline"
    assert gates["first model"]["baseline"] == {"version": None, "sha256": None}
    assert gates["promotion"]["verdict"] == "promote"
    assert gates["promotion"]["baseline"]["version"] == "1.0.0"
    assert gates["rejection"]["verdict"] == "reject"
    assert gates["rejection"]["baseline"]["version"] == "1.0.1"
    assert gates["after the rollback"]["baseline"]["version"] == "1.0.0", "judged against 1.0.0"
    subjects = repo.git("log", "--format=%s").stdout
    assert "promoted v1.0.0" in subjects and "promoted v1.0.1" in subjects
    assert "roll back flight-delay to v1.0.0" in subjects

    # Histories are append-only: each commit's rows are the next commit's first rows.
    names = list(commits)
    for older, newer in zip(names, names[1:], strict=False):
        for path, rows in seen[older].items():
            assert seen[newer][path][:len(rows)] == rows, f"{path}: {newer} rewrote {older}'s rows"
    batches = [line.split(",")[1] for line in seen["after the rollback"][HISTORIES[0]][1:]]
    assert len(batches) == len(set(batches)) == 3, "one row per judged batch"

    # An experiment from HEAD with no change runs nothing.
    exp = repo.dvc("exp", "run")
    assert "Running stage" not in exp.stdout, exp.stdout

    for name, commit in commits.items():
        repo.git("checkout", "-q", commit)
        repo.dvc("checkout", "--quiet")
        before = workspace_digest(repo.path)
        again = repo.dvc("repro")
        assert "Running stage" not in again.stdout, f"{name}: {again.stdout}"
        assert workspace_digest(repo.path) == before, f"{name}: dvc repro changed files"
        assert json.loads(repo.dvc("status", "--json").stdout) == {}, name
        assert repo.git("status", "--porcelain").stdout == "", name
    repo.git("checkout", "-q", "main")


def test_the_loop_refuses_to_start_on_changes_it_does_not_own(template_repo):
    repo = template_repo
    repo.set_params(**{"split.window": 3})  # the user's edit, not committed
    (repo.path / "data/source/new_week.csv").write_text("a,b\n1,2\n")
    (repo.path / "notes.txt").write_text("mine")
    before = workspace_digest(repo.path)

    result = repo.iterate("loop", "--iterations", "1", check=False)

    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: loop: changes that are not the loop's: ")
    for name in ("params.yaml", "data/source/new_week.csv", "notes.txt"):
        assert name in lines[0]
    assert "git stash -u" in lines[0]
    assert workspace_digest(repo.path) == before, "nothing landed, nothing written"
    assert repo.git("log", "--format=%s").stdout.splitlines() == ["template"]


def test_the_loop_commits_only_its_own_files(template_repo, monkeypatch):
    """A file the loop does not own, staged by the user while it runs, stays out of the
    iteration's commit (and stays staged)."""
    from iterate.repo import vcs

    repo = template_repo
    (repo.path / "metrics/evaluation.json").write_text("{}")
    (repo.path / "staged.txt").write_text("the user's")
    repo.git("add", "staged.txt")
    monkeypatch.chdir(repo.path)
    assert vcs.git_foreign_changes(["metrics/evaluation.json"]) == ["staged.txt"]
    assert vcs.git_commit("iterate: test", ["metrics/evaluation.json", "plots/monitor"])
    committed = repo.git("show", "--name-only", "--format=", "HEAD").stdout.split()
    assert committed == ["metrics/evaluation.json"]
    assert repo.git("status", "--porcelain").stdout.strip() == "A  staged.txt"


def test_a_fresh_clone_has_models_and_metrics_each_saying_what_appears_there():
    from conftest import template_files

    files = set(template_files())
    for folder, names in (("models", ("baseline", "production", "registry.yaml")),
                          ("metrics", ("evaluation.json", "gate.json", "monitor.json"))):
        assert f"{folder}/README.md" in files
        text = (Path(__file__).resolve().parents[1] / folder / "README.md").read_text()
        assert all(name in text for name in names), folder


def test_a_landing_refuses_a_production_model_the_registry_does_not_match_before_writing(
        template_repo, tmp_path):
    from helpers import week

    from iterate.repo import registry

    repo = template_repo
    (repo.path / "models/production").mkdir()
    (repo.path / "models/production/model.skops").write_bytes(b"edited by hand")
    (repo.path / "models/registry.yaml").write_text(registry.dump(
        [{"version": "1.0.0", "action": "promote", "time": "2026-01-01T00:00:00Z",
          "reason": "test", "forced": False, "model_sha256": "a" * 64,
          "dvc": {"md5": "0.dir", "path": "production"}, "kind": "sgd_logistic",
          "train_mode": "full", "model_params": {}, "training_data": {}}], "flight-delay"))
    batch = tmp_path / "week1.csv"
    week(1).to_csv(batch, index=False)

    result = repo.iterate("land", str(batch), check=False)

    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "does not match the registry's v1.0.0" in result.stderr
    assert "dvc checkout models/production.dvc" in result.stderr
    assert not list((repo.path / "data").glob("raw/*.parquet")), "nothing landed"
    assert not (repo.path / "models/baseline").exists()
