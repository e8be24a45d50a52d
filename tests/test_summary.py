"""Tests of iterate.core.summary: the loop's table row of an iteration, and its commit message."""

from __future__ import annotations

from iterate.core import gate, summary
from iterate.core.batches import BatchInfo

BATCH = BatchInfo(id="2021-03-22_2021-03-28", start="a", end="b", rows=140, quarantined=0,
                  sha256="s", source="rain.csv", landed_at="t")
F1 = {"candidate": 0.0, "production": 0.0, "delta": 0.0, "delta_low": 0.0, "delta_high": 0.0}


def test_a_skipped_iteration_shows_why_in_the_verdict_column_and_no_metric():
    evaluation = {"holdout": {"rows": 140}, "metrics": {"f1": F1, "roc_auc": {}}}
    verdict = {"verdict": gate.SKIP, "reasons": [gate.skip_reason(0)]}

    row = summary.iteration_row(BATCH, 4, evaluation, verdict, None)
    line = summary.table([row]).splitlines()[-1]

    assert line.split()[:3] == ["4", "2021-03-22_2021-03-28", "140"]
    assert line.split()[3:9] == ["—"] * 6, "a holdout of one class shows no metric"
    assert line.endswith("skipped: holdout holds one class (0) only; it trains later models")
    assert summary.commit_message(row) == "iterate: batch 4 (2021-03-22_2021-03-28): skip"
