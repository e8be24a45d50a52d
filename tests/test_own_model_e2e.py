"""End to end: the model is the user's, chosen by ``model.estimator``/``model.params`` (built by
src/iterate/model.py), in a temporary template copy with real DVC and git.

    replay 2 batches; for HistGradientBoosting, LogisticRegression, RandomForest, SGD:
        set model.*, dvc repro                      -> trained (full) and evaluated
    promote the SGD model; replay 1 batch; train.mode incremental, dvc repro
                                                    -> partial_fit of the SGD model, evaluated
    RandomForest with train.mode incremental, dvc repro -> refused in one line
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import make_template_repo
from helpers import SGD_PARAMS

pytestmark = pytest.mark.slow

MODELS = {  # small, for 2 cores
    "HistGradientBoostingClassifier": {
        "model.estimator": "sklearn.ensemble.HistGradientBoostingClassifier",
        "model.params": {"max_iter": 20}},
    "LogisticRegression": {"model.estimator": "sklearn.linear_model.LogisticRegression",
                           "model.params": {"max_iter": 300}},
    "RandomForestClassifier": {"model.estimator": "sklearn.ensemble.RandomForestClassifier",
                               "model.params": {"n_estimators": 20, "min_samples_leaf": 20}},
    "SGDClassifier": SGD_PARAMS,
}


def read(repo, path: str) -> dict:
    return json.loads((repo.path / path).read_text())


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> dict:
    repo = make_template_repo(tmp_path_factory.mktemp("own-model"))
    repo.set_params(**{"replay.warmup_batches": 2})
    repo.git("commit", "-qam", "two warm-up batches")
    repo.iterate("replay", "--through", "2013-01-08")
    out: dict = {"full": {}}
    for name, changes in MODELS.items():
        repo.set_params(**changes)
        repo.dvc("repro")
        out["full"][name] = {"meta": read(repo, "models/candidate/model.json"),
                             "evaluation": read(repo, "metrics/numbers/evaluate.json")}
    repo.iterate("promote")  # the SGD model: the first version (no baseline yet)
    repo.iterate("replay", "--next")
    repo.set_params(**{"train.mode": "incremental"})
    repo.dvc("repro")
    out["incremental"] = {"meta": read(repo, "models/candidate/model.json"),
                          "evaluation": read(repo, "metrics/numbers/evaluate.json"),
                          "production": read(repo, "models/production/model.json")}
    repo.set_params(**MODELS["RandomForestClassifier"])
    out["refused"] = repo.dvc("repro", check=False)
    out["repo"] = repo
    return out


@pytest.mark.parametrize("name", list(MODELS))
def test_each_classifier_trains_in_full_and_is_evaluated_through_dvc_repro(scenario, name):
    meta, evaluation = scenario["full"][name]["meta"], scenario["full"][name]["evaluation"]
    assert meta["kind"] == name and meta["mode"] == "full"
    assert meta["model_params"]["estimator"] == MODELS[name]["model.estimator"]
    assert meta["model_params"]["params"] == MODELS[name]["model.params"]
    assert evaluation["metrics"]["roc_auc"]["candidate"] > 0.6  # loaded back and scored


def test_the_sgd_model_is_continued_incrementally_through_dvc_repro(scenario):
    meta, production = scenario["incremental"]["meta"], scenario["incremental"]["production"]
    assert (meta["kind"], meta["mode"]) == ("SGDClassifier", "incremental")
    assert meta["parent_sha256"] == production["sha256"]
    assert meta["seen"]["count"] == production["seen"]["count"] + 1
    assert scenario["incremental"]["evaluation"]["metrics"]["roc_auc"]["candidate"] > 0.6


def test_incremental_training_of_a_classifier_without_partial_fit_is_refused_in_one_line(
        scenario):
    result = scenario["refused"]
    assert result.returncode != 0
    lines = [line for line in (result.stdout + result.stderr).splitlines()
             if "train.mode: incremental" in line]
    assert len(lines) == 1, result.stderr
    assert "RandomForestClassifier" in lines[0] and "partial_fit" in lines[0]
    assert "Traceback" not in result.stderr
    assert not Path(scenario["repo"].path / "models/candidate/model.json").exists() or read(
        scenario["repo"], "models/candidate/model.json")["kind"] != "RandomForestClassifier"
