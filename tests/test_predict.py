"""Scoring with a model bundle (iterate.repo.scoring.score): the output columns, input written for
an earlier model version, and input that breaks the model's contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import full_fit, hgb_model, sgd_model, week

from iterate import params
from iterate.core import contract, training
from iterate.errors import ContractError
from iterate.repo import bundles, scoring

ROOT = Path(__file__).resolve().parents[1]
P = params.load(ROOT / "params.yaml")
SGD = sgd_model()
HGB = hgb_model(max_iter=30)
KINDS = {"sgd_logistic": SGD, "hist_gradient_boosting": HGB}
FEATURES = list(P.contract.columns)


@pytest.fixture(scope="module")
def fitted(tmp_path_factory) -> dict[str, training.Bundle]:
    """One small model of each kind, trained on week 1, saved and loaded back as predict
    loads production."""
    raw = week(1, step=2)
    rows = contract.validate(raw, P.contract).good.assign(batch_id="2013-01-01_2013-01-07")
    out = {}
    for kind, model in KINDS.items():
        folder = tmp_path_factory.mktemp(kind)
        bundles.save(full_fit(rows, model, tmp_path_factory.mktemp("fit")), folder)
        out[kind] = bundles.load(folder)
    return out


@pytest.fixture
def bundle(fitted) -> training.Bundle:
    return fitted["sgd_logistic"]


def batch(n: int = 120) -> pd.DataFrame:
    """Rows of week 2 (which the models did not train on), as text, as read from a CSV."""
    return week(2, step=40).head(n).copy()


def test_score_adds_an_id_probability_label_at_the_threshold_and_version(bundle):
    frame = batch()

    scored, log = scoring.score(bundle, "1.2.3", frame, "in.csv")

    assert list(scored.columns) == [*frame.columns, "prediction_id", "probability",
                                    "predicted_label", "model_version"]
    assert scored["prediction_id"].is_unique, "every row gets its own prediction ID"
    assert list(log["prediction_id"]) == list(scored["prediction_id"]), "the log keys the rows"
    assert len(scored) == len(frame)
    assert scored["probability"].between(0, 1).all()
    threshold = bundle.meta["output"]["threshold"]
    expected = (scored["probability"] >= threshold).astype(int)
    assert (scored["predicted_label"] == expected).all()
    assert 0 < scored["predicted_label"].sum() < len(scored), "both labels occur"
    assert (scored["model_version"] == "1.2.3").all()
    pd.testing.assert_frame_equal(scored[frame.columns], frame)


def test_score_gives_the_models_own_probabilities(bundle):
    frame = batch()
    scored, _ = scoring.score(bundle, "1.2.3", frame, "in.csv")

    typed = contract.validate(frame, P.contract).good  # same rows: week 2 is in time order
    np.testing.assert_allclose(scored["probability"], bundle.predict_proba(typed), atol=1e-6)


def test_score_leaves_the_input_frame_unchanged(bundle):
    frame = batch()
    before = frame.copy()
    scoring.score(bundle, "1.2.3", frame, "in.csv")
    pd.testing.assert_frame_equal(frame, before)


def test_the_log_holds_the_id_time_typed_features_score_and_version(bundle):
    scored, log = scoring.score(bundle, "1.2.3", batch(), "in.csv")

    assert list(log.columns[:3]) == ["prediction_id", "scored_at", "model_version"]
    assert sorted(log.columns[3:-1]) == sorted(FEATURES) and log.columns[-1] == "score"
    assert str(log["scored_at"].dt.tz) == "UTC"
    assert log["distance"].dtype == np.float64
    np.testing.assert_allclose(log["score"], scored["probability"], atol=1e-6)
    assert (log["model_version"] == "1.2.3").all()


def test_the_log_keeps_the_context_columns_asked_for_as_given_so_a_label_can_land(bundle):
    frame = batch()
    keep = scoring.logged_context(P.contract)

    _, log = scoring.score(bundle, "1.2.3", frame, "in.csv", keep)

    assert keep[0] == P.contract.time_column and set(FEATURES) <= set(keep)
    assert list(log[P.contract.time_column]) == list(frame[P.contract.time_column])
    assert list(log.columns).count("distance") == 1, "a feature is logged once, typed"
    assert log["distance"].dtype == np.float64
    assert P.contract.label not in log, "the label is not known when a row is scored"


@pytest.mark.parametrize("kind", ["sgd_logistic", "hist_gradient_boosting"])
def test_a_batch_in_the_previous_versions_schema_is_still_scored(fitted, kind):
    bundle = fitted[kind]
    known = set(bundle.meta["input_schema"]["carrier"]["categories"])
    frame = batch(60)
    frame["tailnum"] = "N14228"  # a column an earlier version used; this one ignores it
    frame = frame[["tailnum", *reversed(frame.columns[:-1])]]  # another column order
    frame.loc[0, "carrier"] = "ZZ"  # a carrier this model never saw
    frame.loc[1, "dest"] = "XYZ"  # and a destination
    frame.loc[2, ["temp", "wind_gust"]] = ""  # nullable columns left empty
    assert "ZZ" not in known

    scored, _ = scoring.score(bundle, "2.0.0", frame, "old.csv")

    assert len(scored) == 60
    assert scored["probability"].notna().all()
    assert scored["probability"].between(0, 1).all()
    assert list(scored.columns[:len(frame.columns)]) == list(frame.columns)


def test_typed_input_as_from_parquet_is_scored_like_text_input(bundle):
    text = batch()
    typed = contract.validate(text, P.contract).good
    typed.insert(0, "flight_id", range(len(typed)))

    from_text, _ = scoring.score(bundle, "1.2.3", text, "in.csv")
    from_typed, _ = scoring.score(bundle, "1.2.3", typed, "in.parquet")

    np.testing.assert_allclose(from_typed["probability"], from_text["probability"])


# ---------------------------------------------------------------- input the contract refuses


def test_a_missing_column_is_refused_naming_it(bundle):
    frame = batch().drop(columns=["distance"])

    with pytest.raises(ContractError, match=r"in\.csv: missing column\(s\) 'distance'"):
        scoring.score(bundle, "1.2.3", frame, "in.csv")


@pytest.mark.parametrize("column, value, problem", [
    ("distance", "20000", "distance: above the maximum 10000"),
    ("humid", "-5", "humid: below the minimum 0"),
    ("distance", "1400 mi", "distance: not a number '1400 mi'"),
    ("sched_dep_time", "5.5", "sched_dep_time: not a whole number"),
    ("sched_dep_time", "", "sched_dep_time: missing (not nullable)"),
])
def test_a_bad_value_is_refused_naming_the_problem_and_the_row(bundle, column, value, problem):
    frame = batch()
    frame.loc[6, column] = value  # the 7th data row

    with pytest.raises(ContractError) as caught:
        scoring.score(bundle, "1.2.3", frame, "in.csv")

    message = str(caught.value)
    assert message.startswith("in.csv: 1 row(s) break the production model's input contract")
    assert f"first, row 7: {problem}" in message
    assert "\n" not in message


def test_several_bad_rows_are_counted_and_the_first_is_named(bundle):
    frame = batch()
    frame.loc[[3, 9, 11], "wind_dir"] = "400"

    with pytest.raises(ContractError, match=r"3 row\(s\) break .*first, row 4: wind_dir: above "
                                            r"the maximum 360"):
        scoring.score(bundle, "1.2.3", frame, "in.csv")


def test_an_empty_batch_is_refused(bundle):
    with pytest.raises(ContractError, match="no data rows"):
        scoring.score(bundle, "1.2.3", batch().head(0), "in.csv")


# ---------------------------------------------------------------- label and written probability


class FixedPipeline:
    """Stands in for a fitted Pipeline: returns the given probabilities of class 1."""

    def __init__(self, proba: list[float]):
        self.proba = np.array(proba)

    def predict_proba(self, x: pd.DataFrame) -> np.ndarray:
        assert len(x) == len(self.proba)
        return np.column_stack([1 - self.proba, self.proba])


def test_the_written_label_agrees_with_the_written_probability_at_the_threshold(bundle):
    meta = {**bundle.meta, "output": {**bundle.meta["output"], "threshold": 0.3}}
    fake = training.Bundle(pipeline=FixedPipeline([0.2999996, 0.3, 0.31]), meta=meta)

    scored, _ = scoring.score(fake, "1.2.3", batch(3), "in.csv")

    written = scored["probability"] >= 0.3
    assert scored["predicted_label"].tolist() == written.astype(int).tolist()


def production_repo(root: Path) -> None:
    """models/production with its reference sample and a registry naming its version."""
    raw = week(1, step=1)
    rows = contract.validate(raw, P.contract).good.assign(batch_id="2013-01-01_2013-01-07")
    bundle = full_fit(rows, SGD, root / "fit")
    bundle.reference = rows[[*P.contract.features, P.contract.label]].assign(
        score=bundle.predict_proba(rows))
    bundles.save(bundle, root / "models/production")
    (root / "models/registry.yaml").write_text(yaml.safe_dump({"versions": [{
        "version": "1.0.0", "action": "promote", "time": "2026-01-01T00:00:00Z",
        "reason": "test", "forced": False, "model_sha256": bundle.meta["sha256"],
        "dvc": {"md5": "0.dir", "path": "production"}, "kind": bundle.kind,
        "train_mode": "full", "model_params": bundle.meta["model_params"],
        "training_data": {}}]}))


def test_the_prediction_log_is_checked_for_drift_against_the_training_reference(
        tmp_path, monkeypatch):
    production_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    similar = week(1, step=3)
    hot = week(2, step=3).assign(temp=lambda f: (pd.to_numeric(f["temp"]) + 40).astype(str))
    for name, frame in (("similar", similar), ("hot", hot)):
        frame.drop(columns=["late"]).to_csv(tmp_path / f"{name}.csv", index=False)

    scoring.predict(tmp_path / "similar.csv", tmp_path / "out1.csv")
    calm = scoring.prediction_drift(P)
    assert calm["rows"] == len(similar) and calm["version"] == "1.0.0"
    assert set(calm["columns"]) == {*P.contract.features, "score"}
    assert calm["columns"]["temp"]["status"] != "drift"

    scoring.predict(tmp_path / "hot.csv", tmp_path / "out2.csv")
    shifted = scoring.prediction_drift(P)
    assert shifted["logs"] == 2 and shifted["rows"] == len(similar) + len(hot)
    assert shifted["columns"]["temp"]["status"] == "drift"
    assert "temp" in shifted["drifted_columns"]
