"""End to end: the loop in a temporary repository with real DVC and real git commits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml
from helpers import SGD_PARAMS

pytestmark = pytest.mark.slow


def read(repo, path):
    return json.loads((repo.path / path).read_text())


def test_three_iterations_each_committed_keep_dvc_git_and_registry_in_step(shipped_repo):
    repo = shipped_repo
    repo.set_params(**{"replay.warmup_batches": 2})
    repo.git("commit", "-qam", "two warm-up batches")
    verdicts, versions = [], []
    for iteration in range(3):
        repo.iterate("replay", "--through", "2013-01-08") if iteration == 0 else \
            repo.iterate("replay", "--next")
        repo.dvc("repro")
        assert json.loads(repo.dvc("status", "--json").stdout) == {}, "dvc status after repro"
        again = repo.dvc("repro")
        assert "Running stage" not in again.stdout, "a repro with nothing new must run no stage"

        gate = read(repo, "metrics/gate.json")
        verdicts.append(gate["verdict"])
        if gate["promotable"]:
            out = repo.iterate("promote").stdout  # registry.tag: commits the iteration, tags it
            versions.append(out.split(" v")[1].split()[0])
            assert f"tagged flight-delay@v{versions[-1]}" in out
        else:
            assert repo.iterate("promote", check=False).returncode != 0
            repo.git("add", "-A")
            repo.git("commit", "-qm", f"iteration {iteration}")
        assert repo.git("status", "--porcelain").stdout == "", "each iteration is one commit"

        if iteration > 0:
            diff = json.loads(repo.dvc("metrics", "diff", "HEAD~1", "--json").stdout)
            changed = diff["metrics/numbers/evaluate.json"]
            assert any(k.startswith("metrics.") and k.endswith(".candidate") and v.get("diff")
                       for k, v in changed.items()), f"candidate metrics did not change: {changed}"

    assert verdicts[0] == "no_baseline"
    registry = yaml.safe_load((repo.path / "models/registry.yaml").read_text())
    assert [e["version"] for e in registry["versions"]] == versions
    assert len(versions) == sum(v in ("promote", "no_baseline") for v in verdicts)
    assert versions[0] == "1.0.0"
    production = json.loads((repo.path / "models/production/model.json").read_text())
    assert production["sha256"] == registry["versions"][-1]["model_sha256"]

    # A promotion changes no stage's input: the stages read the baseline pinned at landing.
    if verdicts[-1] in ("promote", "no_baseline"):
        assert "Running stage" not in repo.dvc("repro").stdout
        again = repo.iterate("promote", check=False)
        assert again.returncode != 0 and "was released already" in again.stderr
    params_diff = json.loads(repo.dvc("params", "diff", "HEAD~3", "--json").stdout)
    assert params_diff == {}, "the params did not change between iterations"


def test_loop_lands_trains_promotes_commits_and_prints_the_table(shipped_repo):
    repo = shipped_repo
    first = repo.iterate("loop", "--iterations", "2").stdout
    assert "no baseline" in first
    header = next(line for line in first.splitlines() if line.startswith("#"))
    assert "F1 Δ [95% CI]" in header and "ROC AUC Δ [95% CI]" in header
    log = repo.git("log", "--format=%s").stdout.splitlines()
    assert len(log) == 3 and log[0].startswith("iterate: batch 5 (2013-01-29_2013-02-04)")
    assert repo.git("status", "--porcelain").stdout.strip() == ""

    second = repo.iterate("loop", "--iterations", "1").stdout  # continues with the next batch
    assert "2013-02-05_2013-02-11" in second
    assert json.loads(repo.dvc("metrics", "diff", "HEAD~1", "--json").stdout)
    assert "Monitoring of batch 2013-02-05_2013-02-11: recommendation" in second


def test_after_a_short_loop_gto_show_lists_the_versions_and_the_one_in_production(
        template_repo):
    repo = template_repo  # the template's params: registry.tag is on
    repo.iterate("loop", "--iterations", "2")
    registry = yaml.safe_load((repo.path / "models/registry.yaml").read_text())["versions"]
    gto = str(Path(sys.executable).parent / "gto")  # `python -m gto` does not run
    shown = json.loads(repo.run(gto, "show", "--json").stdout)["flight-delay"]
    assert shown["version"] == f"v{registry[-1]['version']}"
    assert shown["stage"] == {"prod": f"v{registry[-1]['version']}"}
    listed = json.loads(repo.run(gto, "show", "flight-delay", "--json").stdout)
    assert sorted(v["version"] for v in listed) == sorted(f"v{e['version']}" for e in registry)


def test_monitoring_scores_every_column_every_time_and_keeps_its_history(template_repo):
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, **SGD_PARAMS,
                       "train.mode": "auto"})
    repo.git("commit", "-qam", "auto mode")
    repo.iterate("loop", "--iterations", "3")
    features = yaml.safe_load((repo.path / "params.yaml").read_text())["contract"]["columns"]
    scores = read(repo, "metrics/drift.json")["columns"]
    assert set(scores) == {*features, "score", "late"}, "every column, every time"
    assert all(s["effect_size"] is not None and s["status"] for s in scores.values())
    monitor = read(repo, "metrics/monitor.json")
    assert monitor["recommendation"] in ("keep", "incremental", "full") and monitor["reasons"]
    history = (repo.path / "plots/monitor/performance.csv").read_text().splitlines()
    assert len(history) == 1 + 2, "a row per batch scored by a production model"
    drift_rows = (repo.path / "plots/monitor/drift.csv").read_text().splitlines()
    assert len(drift_rows) == 1 + 2 * len(scores)
    for png in ("evaluation.png", "performance.png", "drift.png"):  # drawn at the loop's end
        assert (repo.path / "report/figures" / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list((repo.path / "plots").rglob("*.png")), "no stage draws"
    candidate = json.loads((repo.path / "models/candidate/model.json").read_text())
    expected = {"full"} if monitor["recommendation"] == "full" else {"incremental", "unchanged"}
    assert candidate["mode"] in expected, "train.mode auto follows this iteration's advice"


def test_loop_over_a_one_class_batch_of_own_data_skips_it_and_goes_on(template_repo):
    """Own data by params alone (date-only times in Europe/Paris, other column names), with a
    dry week: it lands with a warning, its iteration is a `skip` (no promotion, finite
    metrics, `iterate promote` refuses in one line), and the loop goes on to the next one."""
    from helpers import rain_history, rain_params

    repo = template_repo
    rain_history(weeks=6, dry=(4,)).to_csv(repo.path / "data/source/rain.csv", index=False)
    # template_repo: a candidate every batch (trigger.when: always), so one trains on the dry week
    repo.set_params(**rain_params("data/source/rain.csv"))
    repo.git("add", "-A")
    repo.git("commit", "-qm", "adopt the rain data")

    first = repo.iterate("loop", "--iterations", "2")
    assert ("warning: batch 2021-03-22_2021-03-28 (rain.csv): the label 'rain' holds one "
            "class only (0)") in first.stderr
    skipped = next(line for line in first.stdout.splitlines()
                   if line.startswith("4 ") and "2021-03-22_2021-03-28" in line)
    assert skipped.endswith("skipped: holdout holds one class (0) only; it trains later models")
    assert read(repo, "metrics/gate.json")["verdict"] == "skip"
    numbers = (repo.path / "metrics/numbers/evaluate.json").read_text()
    json.loads(numbers, parse_constant=lambda c: pytest.fail(f"{c} in the metrics"))
    assert json.loads(repo.dvc("status", "--json").stdout) == {}
    assert repo.git("status", "--porcelain").stdout.strip() == ""
    log = repo.git("log", "--format=%s").stdout.splitlines()
    assert log[0] == ("iterate: batch 4 (2021-03-22_2021-03-28): skipped: holdout holds one "
                      "class (0) only; it trains later models")
    assert log[1] == "iterate: batch 3 (2021-03-15_2021-03-21): promoted v1.0.0"

    refused = repo.iterate("promote", check=False)
    assert refused.returncode != 0 and refused.stderr.count("\n") == 1
    assert refused.stderr.startswith("error: promote: the gate judged nothing (skipped: "
                                     "holdout holds one class (0) only")

    repo.iterate("loop", "--iterations", "1")
    evaluation = read(repo, "metrics/evaluation.json")
    assert evaluation["holdout"]["batch"] == "2021-03-29_2021-04-04"
    assert evaluation["holdout"]["classes"] == [0, 1]
    train = read(repo, "models/candidate/model.json")["trained_batches"]
    assert "2021-03-22_2021-03-28" in train, "the dry week trains the next candidate"
    assert json.loads(repo.dvc("status", "--json").stdout) == {}
    card = (repo.path / "models/production/CARD.md").read_text()
    assert "**Predicts:** Whether it rains at the station that day" in card
    assert not any(w in card.lower() for w in ("flight", "new york", "2013"))
