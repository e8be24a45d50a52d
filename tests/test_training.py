"""Training: full and incremental fits, and model bundles that load only when untampered."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import full_fit, sgd_model, typed_weeks
from sklearn.metrics import roc_auc_score

from iterate import params
from iterate.core import training
from iterate.errors import IterateError
from iterate.repo import bundles

ROOT = Path(__file__).resolve().parents[1]
P = params.load(ROOT / "params.yaml")
SGD = sgd_model()


@pytest.fixture(scope="module")
def weeks() -> pd.DataFrame:
    """Three weeks of real rows, typed by the contract, with a batch_id per week."""
    rows = typed_weeks(18000)
    return rows[rows["batch_id"].isin(["week-0", "week-1", "week-2"])]


def incremental(model, rows, production):
    plan = training.plan(model, rows, production.meta)
    return plan, training.update(plan, model, P.contract, production)


@pytest.fixture
def fit(tmp_path):
    """A full refit as the train stage does it, each in its own folder."""
    folders = iter(range(100))
    return lambda model, rows: full_fit(rows, model, tmp_path / f"fit-{next(folders)}")


def test_full_fit_records_what_it_trained_on(weeks, fit):
    train = weeks[weeks.batch_id != "week-2"]
    bundle = fit(SGD, train)
    assert bundle.meta["mode"] == "full"
    assert bundle.meta["trained_batches"] == ["week-0", "week-1"]
    assert bundle.meta["seen"] == {"first": "week-0", "last": "week-1", "count": 2}
    assert bundle.meta["trained_rows"] == len(train)
    assert bundle.meta["input_schema"]["origin"]["categories"] == ["EWR", "JFK", "LGA"]


def test_incremental_fit_continues_production_on_unseen_batches_only(weeks, fit, tmp_path):
    bundles.save(fit(SGD, weeks[weeks.batch_id == "week-0"]), tmp_path / "production")
    production = bundles.load(tmp_path / "production")
    before = production.pipeline[-1].coef_.copy()

    plan, candidate = incremental(SGD, weeks[weeks.batch_id != "week-2"],
                                  bundles.load(tmp_path / "production"))
    assert plan.mode == "incremental"
    assert set(plan.rows["batch_id"]) == {"week-1"}, "only the batch production has not seen"
    assert candidate.meta["trained_batches"] == ["week-1"]
    assert candidate.meta["seen"] == {"first": "week-0", "last": "week-1", "count": 2}
    assert candidate.meta["parent_sha256"] == production.meta["sha256"]
    assert not np.allclose(candidate.pipeline[-1].coef_, before), "partial_fit changed nothing"
    # the transformer is frozen: the same categories as the production model's
    assert candidate.meta["input_schema"] == production.meta["input_schema"]


def test_the_metadata_of_a_long_incremental_history_stays_the_same_size(weeks, fit, tmp_path):
    bundles.save(fit(SGD, weeks[weeks.batch_id == "week-0"]), tmp_path / "v0")
    sizes = []
    for week in range(1, 3):
        rows = weeks[weeks.batch_id == f"week-{week}"]
        _, candidate = incremental(SGD, rows, bundles.load(tmp_path / f"v{week - 1}"))
        bundles.save(candidate, tmp_path / f"v{week}")
        sizes.append(len((tmp_path / f"v{week}" / bundles.META_FILE).read_bytes()))
    assert candidate.meta["seen"] == {"first": "week-0", "last": "week-2", "count": 3}
    assert abs(sizes[1] - sizes[0]) < 16, "no list of every batch seen"


def test_batches_older_than_the_last_seen_are_not_unseen(weeks, fit):
    production = fit(SGD, weeks[weeks.batch_id == "week-1"])
    plan = training.plan(SGD, weeks[weeks.batch_id != "week-2"], production.meta)
    assert plan.mode == "unchanged", "week-0 comes before week-1, the last production saw"


def test_incremental_with_nothing_new_leaves_the_model_unchanged(weeks, fit, tmp_path):
    bundles.save(fit(SGD, weeks), tmp_path / "production")
    production = bundles.load(tmp_path / "production")
    plan, candidate = incremental(SGD, weeks, bundles.load(tmp_path / "production"))
    assert plan.mode == "unchanged"
    bundles.save(candidate, tmp_path / "candidate")
    assert candidate.meta["sha256"] == production.meta["sha256"]


def test_incremental_without_production_falls_back_to_full_and_says_so(weeks):
    note = training.full_refit_note("incremental", None, len(weeks))
    assert "no production model" in note


def test_incremental_refuses_a_change_of_estimator(weeks):
    production = {"model_params": {"estimator": P.model.estimator},
                  "seen": training.seen_range([])}
    with pytest.raises(IterateError, match="set train.mode: full to switch estimators"):
        training.plan(SGD, weeks, production)


@pytest.mark.parametrize("mode", ["incremental", "auto"])
def test_incremental_modes_are_refused_in_one_line_for_a_classifier_without_partial_fit(mode):
    forest = dataclasses.replace(P.model, estimator="sklearn.ensemble.RandomForestClassifier",
                                 params={})
    with pytest.raises(IterateError) as refused:
        training.require_incremental(mode, training.build(forest, P.contract), forest)
    message = str(refused.value)
    assert "\n" not in message
    assert f"train.mode: {mode}" in message and "RandomForestClassifier" in message
    training.require_incremental("full", training.build(forest, P.contract), forest)
    training.require_incremental(mode, training.build(SGD, P.contract), SGD)


def test_a_streamed_fit_is_refused_in_one_line_for_a_classifier_without_partial_fit():
    hgb = P.model  # the shipped HistGradientBoosting
    with pytest.raises(IterateError) as refused:
        training.require_streamable("stream", training.build(hgb, P.contract), hgb)
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith("train.fit: stream trains the classifier by passes of partial_fit")
    assert "set train.fit: whole" in message and "HistGradientBoostingClassifier" in message
    training.require_streamable("whole", training.build(hgb, P.contract), hgb)
    training.require_streamable("stream", training.build(SGD, P.contract), SGD)


def test_the_model_seed_is_the_random_state_unless_the_params_set_one():
    assert training.build(SGD, P.contract)[-1].random_state == SGD.seed
    own = sgd_model(random_state=7)
    assert training.build(own, P.contract)[-1].random_state == 7
    ridge = dataclasses.replace(P.model, estimator="sklearn.naive_bayes.GaussianNB", params={})
    assert "random_state" not in training.build(ridge, P.contract)[-1].get_params()


@pytest.mark.parametrize(("estimator", "kwargs", "message"), [
    ("sklearn.linear_model.SGDClassifier", {"max_leaf_nodes": 31},
     "model.params.max_leaf_nodes: not a parameter of SGDClassifier"),
    ("sklearn.linear_model.LinearRegression", {}, "has no predict_proba"),
    ("sklearn.linear_model.NoSuchClassifier", {}, "cannot be imported"),
    ("os.system", {}, "standard library"),
    ("numpy.ndarray", {}, "not a scikit-learn estimator class"),
])
def test_a_model_that_is_not_a_classifier_is_refused_naming_the_key(estimator, kwargs, message):
    model = dataclasses.replace(P.model, estimator=estimator, params=kwargs)
    with pytest.raises(IterateError, match=message) as refused:
        training.build(model, P.contract)
    assert "\n" not in str(refused.value)


def test_a_model_file_that_returns_no_pipeline_is_refused(monkeypatch):
    from iterate import model as model_file

    monkeypatch.setattr(model_file, "build", lambda contract, params: object())
    with pytest.raises(IterateError, match=r"model.py: build\(\) returned object, not a Pipeline"):
        training.build(SGD, P.contract)


def test_a_model_that_cannot_learn_incrementally_is_refused(weeks, fit):
    bundle = fit(P.model, weeks)  # hist_gradient_boosting
    with pytest.raises(IterateError, match="cannot learn incrementally"):
        training.fit_incremental(bundle.pipeline, weeks[P.contract.features], weeks["late"])


def test_incremental_and_full_both_beat_chance_on_the_next_week(weeks, fit, tmp_path):
    train, test = weeks[weeks.batch_id != "week-2"], weeks[weeks.batch_id == "week-2"]
    full = fit(SGD, train)
    bundles.save(fit(SGD, train[train.batch_id == "week-0"]), tmp_path / "p")
    _, updated = incremental(SGD, train, bundles.load(tmp_path / "p"))
    for bundle in (full, updated):
        assert roc_auc_score(test["late"], bundle.predict_proba(test)) > 0.55


SAVE_ONE = """
import sys
from pathlib import Path
from helpers import full_fit, typed_weeks
from iterate import params
from iterate.repo import bundles
rows = typed_weeks(12000)  # more than 10,000: HistGradientBoosting stops early
bundles.save(full_fit(rows, params.load(sys.argv[1]).model, Path(sys.argv[3])), sys.argv[3])
"""


def test_the_same_inputs_give_the_same_model_bytes_in_separate_processes(tmp_path):
    hashes = []
    for run in ("a", "b"):
        subprocess.run([sys.executable, "-c", SAVE_ONE, str(ROOT / "params.yaml"),
                        str(ROOT / "data/source/flights_weather_2013.csv.gz"),
                        str(tmp_path / run)], check=True,
                       env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
        hashes.append(bundles.read_meta(tmp_path / run)["sha256"])
    assert hashes[0] == hashes[1]


def test_a_tampered_model_file_is_refused_at_load(weeks, fit, tmp_path):
    bundle = fit(SGD, weeks)
    bundles.save(bundle, tmp_path / "m")
    path = tmp_path / "m" / bundles.MODEL_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(IterateError, match="does not match model.json"):
        bundles.load(tmp_path / "m")


def test_a_model_not_matching_the_registry_hash_is_refused(weeks, fit, tmp_path):
    bundle = fit(SGD, weeks)
    bundles.save(bundle, tmp_path / "m")
    entry = {"version": "1.0.0", "model_sha256": "0" * 64,
             "model_params": bundle.meta["model_params"]}
    with pytest.raises(IterateError, match="does not match the registry"):
        bundles.load_registered(tmp_path / "m", entry)


def test_a_model_file_holding_foreign_types_is_refused_even_with_a_matching_hash(weeks, fit,
                                                                                  tmp_path):
    bundle = fit(SGD, weeks)
    bundles.save(bundle, tmp_path / "m")
    path = tmp_path / "m" / bundles.MODEL_FILE
    with zipfile.ZipFile(path) as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["schema.json"] = members["schema.json"].replace(
        b'"__module__": "sklearn.pipeline"', b'"__module__": "os"', 1)
    with zipfile.ZipFile(path, "w") as z:
        for name, content in members.items():
            z.writestr(name, content)
    meta = bundles.read_meta(tmp_path / "m")
    meta["sha256"] = bundles.file_sha256(path)
    (tmp_path / "m" / bundles.META_FILE).write_text(__import__("json").dumps(meta))
    with pytest.raises(IterateError, match=r"holds os\.Pipeline, which the model "
                                           r"\(SGDClassifier\) is not built of"):
        bundles.load(tmp_path / "m")


def test_loading_a_model_imports_only_the_classes_its_file_names(weeks, fit, tmp_path):
    """skops' own trust list would import every scikit-learn estimator (~1 s per stage)."""
    bundle = fit(SGD, weeks)
    bundles.save(bundle, tmp_path / "m")
    code = ("import sys; from iterate.repo import bundles; m = bundles.load(sys.argv[1]); "
            "print(type(m.pipeline[-1]).__name__, 'sklearn.gaussian_process' in sys.modules, "
            "'sklearn.neural_network' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m")], check=True,
                         capture_output=True, text=True).stdout.split()
    assert out == ["SGDClassifier", "False", "False"]
