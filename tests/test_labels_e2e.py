"""End to end: the loop on labelled traffic (``labels.replay``), ``iterate label`` and the
realised performance ``iterate monitor`` reports, in a temporary repository with real DVC and
git."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pandas as pd
import pytest
import yaml
from helpers import LABEL, SGD_PARAMS, TIME

from iterate.core import contract, replay
from iterate.params import load

pytestmark = pytest.mark.slow


def test_the_loop_on_labelled_traffic_lands_the_joined_rows_and_monitor_shows_them(
        template_repo):
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, **SGD_PARAMS, "labels.replay": True,
                       "labels.delay": 1})
    repo.git("commit", "-qam", "the loop on labelled traffic")
    p = load(repo.path / "params.yaml")

    out = repo.iterate("loop", "--iterations", "2").stdout

    batches = sorted((repo.path / "data/raw").glob("*.parquet"))
    assert len(batches) == 3, out  # two warm-up batches, then one labelled batch
    source = pd.read_csv(repo.path / p.replay.source, dtype=str, keep_default_na=False,
                         na_values=[""])
    cut = replay.pending(source, TIME, p.replay.batch_days, after=None)
    landed = pd.read_parquet(batches[2])  # the labelled batch: the rows a direct landing holds
    pd.testing.assert_frame_equal(landed, contract.validate(cut[2], p.contract).good)
    records = sorted(f.stem for f in (repo.path / "data/predictions/labels").glob("*.parquet"))
    assert records == [b.stem for b in batches[2:]]
    waiting = sorted((repo.path / "data/predictions/outcomes").glob("*.parquet"))
    assert len(waiting) == 1, "batch 4 is scored; its labels arrive one batch later"
    log = repo.git("log", "--format=%s").stdout.splitlines()
    assert len(log) == 4 and all(s.startswith("iterate: batch") for s in log[:2])
    assert repo.git("status", "--porcelain").stdout == ""
    evaluation = json.loads((repo.path / "metrics/evaluation.json").read_text())
    assert evaluation["holdout"]["batch"] == batches[2].stem, "the joined batch is the holdout"
    gate = json.loads((repo.path / "metrics/gate.json").read_text())
    versions = yaml.safe_load((repo.path / "models/registry.yaml").read_text())["versions"]
    assert len(versions) == 1 + gate["promotable"], "promoted, or not, as the gate says"

    # The waiting labels, by hand: `iterate label FILE`, then the same labels again.
    truth = pd.read_parquet(waiting[0], columns=["prediction_id", LABEL])
    truth.assign(labelled_at=datetime.now(UTC).isoformat()).to_csv(
        repo.path / "labels.csv", index=False)
    landed = repo.iterate("label", "labels.csv").stdout
    assert landed.startswith("landed ") and f": {len(truth)} rows" in landed
    assert len(list((repo.path / "data/raw").glob("*.parquet"))) == 4
    again = repo.iterate("label", "labels.csv", check=False)
    assert again.returncode != 0
    assert again.stderr.strip().count("\n") == 0
    assert "labelled before" in again.stderr

    # Realised performance of every version that scored labelled traffic, per week.
    cut[5].to_csv(repo.path / "requests.csv", index=False)
    repo.iterate("predict", "requests.csv", "-o", "scored.csv")
    shown = repo.iterate("monitor").stdout
    result = json.loads((repo.path / "metrics/predictions_drift.json").read_text())
    realised = result["realised"]
    assert realised["bucket"] == "week"
    assert realised["labelled"] == sum(len(pd.read_parquet(b)) for b in batches[2:]) + len(truth)
    assert "1.0.0" in realised["versions"]
    for rows in realised["versions"].values():
        for row in rows:
            auc = row["roc_auc"]
            assert auc["low"] <= auc["value"] <= auc["high"]
    assert "realised performance of" in shown and "v1.0.0" in shown and "ROC AUC [95% CI]" in shown
