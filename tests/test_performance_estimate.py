"""Estimated performance on the prediction log (iterate.repo.performance_estimate): the
calibration kept with a released version, and the estimate `iterate monitor` writes per
version and per period, before the labels arrive."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from helpers import week
from test_predict import P, production_repo

from iterate.core import contract, estimate
from iterate.repo import bundles, calibration, performance_estimate, scoring
from iterate.repo.layout import HOLDOUT, PRODUCTION, SCORES


def keep_calibration(root: Path) -> pd.DataFrame:
    """The evaluate stage's inputs for production (week 2 as its holdout, scored), and its
    calibration written from them as promote writes it; returns the holdout."""
    bundle = bundles.load(root / PRODUCTION)
    holdout = contract.validate(week(2, step=1), P.contract).good
    (root / HOLDOUT).parent.mkdir(parents=True)
    (root / SCORES).mkdir(parents=True)
    holdout.to_parquet(root / HOLDOUT, index=False)
    pq.write_table(pa.table({"score": bundle.predict_proba(holdout)}),
                   root / SCORES / "candidate.parquet")
    assert calibration.write(root / PRODUCTION, bundle.meta)
    return holdout


def test_the_log_is_estimated_per_version_and_day_with_intervals_holding_the_realised_value(
        tmp_path, monkeypatch):
    production_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    keep_calibration(tmp_path)
    traffic = week(2, step=1)  # the holdout's own rows: no drift at all (real weeks drift)
    traffic.drop(columns=["late"]).to_csv("traffic.csv", index=False)
    scoring.predict(Path("traffic.csv"), Path("out.csv"))
    p = P.__class__(**{**P.__dict__, "estimate": P.estimate.__class__(resamples=100)})

    result = performance_estimate.estimated(p)

    [version] = result["versions"]
    assert version["version"] == "1.0.0" and version["rows"] == len(traffic)
    assert version["calibration_rows"] > 0 and len(version["buckets"]) == 1, "one day's run"
    assert set(version["overall"]) == set(estimate.METRICS)
    out = pd.read_csv("out.csv")
    labels = contract.validate(traffic, P.contract).good[P.contract.label].to_numpy()
    grouped = estimate.Grouped.of(out["probability"])
    realised = estimate.realised(grouped, np.bincount(
        np.searchsorted(grouped.scores, out["probability"]), labels, len(grouped.scores)),
        version["threshold"])
    for metric, got in version["overall"].items():
        assert got["low"] <= got["value"] <= got["high"], metric
        assert got["low"] <= realised[metric] <= got["high"], (metric, got, realised[metric])
    assert result == performance_estimate.estimated(p), "the same log, the same estimate"
    assert "estimated ROC AUC v1.0.0 0." in performance_estimate.summary(result)


def test_a_version_without_a_kept_calibration_says_why_instead_of_guessing(
        tmp_path, monkeypatch):
    production_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    week(3, step=20).drop(columns=["late"]).to_csv("traffic.csv", index=False)
    scoring.predict(Path("traffic.csv"), Path("out.csv"))

    [version] = performance_estimate.estimated(P)["versions"]

    assert "overall" not in version and "no calibration.parquet kept" in version["reason"]


def test_no_calibration_is_kept_when_the_evaluate_stages_inputs_are_absent(tmp_path,
                                                                           monkeypatch):
    production_repo(tmp_path)
    monkeypatch.chdir(tmp_path)

    assert not calibration.write(tmp_path / PRODUCTION, bundles.read_meta(PRODUCTION))
    assert not (tmp_path / PRODUCTION / calibration.FILE).exists()


def test_the_report_shows_each_versions_estimate_and_interval_and_why_one_is_missing():
    from iterate.core import report

    metrics = {m: {"value": 0.7, "low": 0.65, "high": 0.75} for m in estimate.METRICS}
    monitored = {"estimated": {"method": "CBPE", "confidence": 0.95, "versions": [
        {"version": "1.1.0", "rows": 1200, "overall": metrics,
         "buckets": [{"start": "2026-01-02T00:00:00Z", "rows": 1200, "metrics": metrics}]},
        {"version": "1.0.0", "rows": 30, "reason": "no calibration.parquet kept with v1.0.0"}]}}

    text = "\n".join(report.estimated_section(monitored))

    assert "| v1.1.0 | all | 1,200 | 0.700 [0.650, 0.750] |" in text
    assert "| v1.1.0 | 2026-01-02T00:00:00Z | 1,200 |" in text
    assert "- v1.0.0: no calibration.parquet kept with v1.0.0" in text
    missing = "\n".join(report.estimated_section("metrics/predictions_drift.json not found"))
    assert "not found" in missing


def test_iterate_monitor_writes_the_estimate_under_its_own_key_and_says_it(
        tmp_path, monkeypatch, capsys):
    import json

    from iterate.commands import cli

    production_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    keep_calibration(tmp_path)
    week(3, step=10).drop(columns=["late"]).to_csv("traffic.csv", index=False)
    params_file = Path(__file__).resolve().parents[1] / "params.yaml"
    assert cli.main(["predict", "traffic.csv", "-o", "out.csv", "--params", str(params_file)]) == 0

    assert cli.main(["monitor", "-o", "monitor.json", "--params", str(params_file)]) == 0

    written = json.loads(Path("monitor.json").read_text())
    assert written["estimated"]["versions"][0]["overall"]["roc_auc"]["value"] is not None
    assert "drifted_columns" in written, "the drift part is unchanged"
    assert "estimated ROC AUC v1.0.0 0." in capsys.readouterr().out


def test_iterate_monitor_without_traffic_of_production_exits_0_and_still_reports_older_versions(
        tmp_path, monkeypatch, capsys):
    """A version just promoted has scored nothing: drift is not judged (one line saying why),
    and the realised and estimated parts of the traffic of earlier versions are still written."""
    import json

    from iterate.commands import cli
    from iterate.repo import predlog

    production_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    keep_calibration(tmp_path)
    features = week(3, step=10).drop(columns=["late", "time_hour"]).head(50)
    predlog.append(predlog.rows(features, np.full(len(features), 0.3), "0.9.0",
                                predlog.new_ids(len(features))))
    params_file = Path(__file__).resolve().parents[1] / "params.yaml"

    assert cli.main(["monitor", "-o", "monitor.json", "--params", str(params_file)]) == 0

    written = json.loads(Path("monitor.json").read_text())
    out = capsys.readouterr().out
    assert written["logs"] == 0 and "drifted_columns" not in written
    assert "monitor: drift not judged: no prediction log of v1.0.0" in out
    assert [v["version"] for v in written["estimated"]["versions"]] == ["0.9.0"]
    assert "realised: no labels have landed yet" in out
