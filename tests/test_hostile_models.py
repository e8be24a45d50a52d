"""Hostile model files (tests/hostile_models/make.py writes them into a temporary folder from a
good bundle trained here): a plain pickle, references to os.system and to builtins, the
numpy-eval gadget, a partial of a numpy writer, operator callables, a decompression bomb, a
huge array and a tampered model.json.

Each is refused in one line before any object of the file is built, and its payload (which
would create a file in the markers folder) never runs: loaded in-process, through
`iterate predict` on a copy of the template with a registry entry, and through the drift
stage. The corpus is shown to be live: with skops trusting what the file names, the payloads
run.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import Repo, template_files
from helpers import ROOT, full_fit, hgb_model, sgd_model, typed_weeks, week

from iterate import params
from iterate.core import contract, training
from iterate.errors import IterateError
from iterate.repo import bundles, streaming

P = params.load(ROOT / "params.yaml")
HGB = hgb_model(max_iter=5)
MODELS = {  # the end-to-end tests' four classifiers (tests/test_own_model_e2e.py), small
    "hist_gradient_boosting": HGB,
    "sgd_logistic": sgd_model(),
    "logistic_regression": dataclasses.replace(
        P.model, estimator="sklearn.linear_model.LogisticRegression", params={"max_iter": 200}),
    "random_forest": dataclasses.replace(
        P.model, estimator="sklearn.ensemble.RandomForestClassifier",
        params={"n_estimators": 10, "min_samples_leaf": 20}),
}
MAKE = ROOT / "tests" / "hostile_models" / "make.py"
_spec = importlib.util.spec_from_file_location("hostile_make", MAKE)
make = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(make)
CASES = [*make.CASES, "tampered_model_json"]
LIVE = ["plain_pickle", "os_system", "builtins_eval", "builtins_exec", "builtins_open",
        "numpy_eval_gadget", "partial_of_numpy_save", "operator_methodcaller"]
WEEK1 = "2013-01-01_2013-01-07"


@dataclasses.dataclass
class Corpus:
    root: Path
    base: Path  # the good bundle (HistGradientBoosting, the shipped estimator)
    cases: dict[str, Path]
    markers: Path
    holdout: Path  # typed rows, as the stages read them
    rows: object  # the same rows, typed


def write_corpus(root: Path) -> Corpus:
    rows = contract.validate(week(1, step=2), P.contract).good.assign(batch_id=WEEK1)
    bundles.save(full_fit(rows, HGB, root / "fit"), root / "base")
    frame = rows[P.contract.features]
    cases = make.make(root / "base", root / "corpus", root / "markers", frame)
    holdout = root / "holdout.parquet"
    contract.validate(week(2, step=4), P.contract).good.assign(batch_id="w2").to_parquet(holdout)
    return Corpus(root, root / "base", cases, root / "markers", holdout, rows)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Corpus:
    return write_corpus(tmp_path_factory.mktemp("hostile"))


@pytest.fixture(scope="module")
def repo(tmp_path_factory, corpus) -> Repo:
    """A copy of the template (files only: predict and the stages need no git history)."""
    path = tmp_path_factory.mktemp("repo")
    for name in template_files():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, path / name)
    week(2, step=4).drop(columns=["late"]).to_csv(path / "in.csv", index=False)
    return Repo(path)


def assert_nothing_ran(corpus: Corpus) -> None:
    assert os.listdir(corpus.markers) == [], "a payload ran"


def assert_one_line_refusal(result: subprocess.CompletedProcess) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr


def test_the_good_bundle_loads_and_scores(corpus):
    bundle = bundles.load(corpus.base)
    assert bundle.predict_proba(corpus.rows).shape == (len(corpus.rows),)


@pytest.mark.parametrize("kind", list(MODELS))
def test_the_allow_list_admits_every_model_the_pipeline_makes(tmp_path, kind):
    """The reference is fitted on a dozen generated rows, with one boosting round or tree: the
    models trained on real data (early stopping above 10,000 rows, the float32 path of a
    streamed refit, an incremental update) hold nothing more."""
    model = MODELS[kind]
    rows = typed_weeks(12500)
    train_file = tmp_path / "train.parquet"
    rows.to_parquet(train_file)

    def saved_and_loaded(bundle: training.Bundle, name: str) -> training.Bundle:
        bundles.save(bundle, tmp_path / name)
        return bundles.load(tmp_path / name)

    full = saved_and_loaded(full_fit(rows, model, tmp_path / "fit"), "full")
    saved_and_loaded(streaming.fit_file(train_file, "n", model, P.contract, 500, fit_rows=1000),
                     "streamed")
    if hasattr(full.pipeline[-1], "partial_fit"):
        newer = rows.assign(batch_id="week-9")  # after every batch the full fit saw
        plan = training.plan(model, newer, full.meta)
        assert plan.mode == "incremental"
        saved_and_loaded(training.update(plan, model, P.contract, full), "incremental")


def test_a_derived_allow_list_is_kept_per_machine_and_reused_by_the_next_process(
        tmp_path, monkeypatch):
    """Derived once, outside the repository; a later process reads it instead of fitting again,
    and an unreadable entry is derived again rather than trusted."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(bundles, "_ALLOW_LISTS", {})
    schema = {"n": {"dtype": "float"}, "c": {"dtype": "category"}}
    derived = bundles.allow_list(HGB, schema, "late")
    (entry,) = (tmp_path / "iterate").glob("allow-list-*.json")

    monkeypatch.setattr(bundles, "_ALLOW_LISTS", {})  # a new process, as far as the cache goes
    monkeypatch.setattr(bundles, "_derive", lambda *_: pytest.fail("derived again"))
    assert bundles.allow_list(HGB, schema, "late") == derived

    entry.write_text("{not json")
    monkeypatch.setattr(bundles, "_ALLOW_LISTS", {})
    monkeypatch.setattr(bundles, "_derive", lambda *_: derived)
    assert bundles.allow_list(HGB, schema, "late") == derived
    assert json.loads(entry.read_text())["kind"] == derived.kind


def test_an_allow_list_is_keyed_by_the_model_and_the_inputs_it_was_derived_for():
    schema = {"n": {"dtype": "float"}}
    key = bundles._allow_list_key(HGB, bundles._contract(schema, "late"))
    assert key != bundles._allow_list_key(P.model, bundles._contract(schema, "late"))
    assert key != bundles._allow_list_key(HGB, bundles._contract(
        {**schema, "c": {"dtype": "category"}}, "late"))


@pytest.mark.parametrize("case", CASES)
def test_a_hostile_model_is_refused_in_one_line_before_anything_of_it_runs(corpus, case):
    folder = corpus.cases[case]
    with pytest.raises(IterateError) as caught:
        bundle = bundles.load(folder)
        bundle.predict_proba(corpus.rows)  # what predict and the stages do next
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / bundles.MODEL_FILE}: ")
    assert "refusing to load it" in message
    assert_nothing_ran(corpus)


@pytest.mark.parametrize("case, shown", [
    ("numpy_eval_gadget", "numpy.f2py.crackfortran.myeval"),
    ("partial_of_numpy_save", "numpy.save"),
    ("os_system", "os.system"),
    ("builtins_eval", "builtins.eval"),
    ("operator_methodcaller", "operator.methodcaller"),
    ("plain_pickle", "not a skops file"),
    ("decompression_bomb", "unpacks to"),
    ("huge_array", "declares 800000000000 bytes"),
])
def test_the_refusal_names_what_the_file_holds(corpus, case, shown):
    with pytest.raises(IterateError, match=r"\S") as caught:
        bundles.load(corpus.cases[case])
    assert shown in str(caught.value)


def test_the_gadget_differs_from_the_good_model_only_by_the_function_its_partial_calls(corpus):
    """hist_gradient_boosting holds a FunctionTransformer of a partial of check_array: the
    allow-list is of exact names, so the partial and the transformer pass and myeval does not."""
    with pytest.raises(IterateError, match=r"holds numpy\.f2py\.crackfortran\.myeval, which "
                                           r"the model \(HistGradientBoostingClassifier\) is "
                                           "not built of"):
        bundles.load(corpus.cases["numpy_eval_gadget"])


@pytest.mark.parametrize("text, problem", [
    ("{not json", "not valid JSON"),
    ("[]", "not a JSON object"),
    ('{"sha256": "ab"}', "key 'kind' is missing"),
])
def test_a_corrupt_model_json_is_one_line(corpus, tmp_path, text, problem):
    folder = tmp_path / "m"
    shutil.copytree(corpus.base, folder)
    (folder / bundles.META_FILE).write_text(text)
    with pytest.raises(IterateError, match=problem) as caught:
        bundles.load(folder)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("estimator, params, problem", [
    ("builtins.eval", {}, "is in Python's standard library"),
    ("os.system", {}, "is in Python's standard library"),
    ("subprocess.Popen", {"args": "touch x"}, "is in Python's standard library"),
    ("numpy.f2py.crackfortran.myeval", {}, "is not a scikit-learn estimator class"),
    ("sklearn.preprocessing.FunctionTransformer", {"func": "os.system"}, "has no predict_proba"),
    ("sklearn.no_such_module.Classifier", {}, "cannot be imported"),
    ("sklearn.linear_model.LogisticRegression", {"penalty": "os.system('touch x')"},
     "LogisticRegression"),
    ("not a path", {}, "is not a dotted path"),
])
def test_model_params_that_name_no_classifier_are_refused_before_anything_is_called(
        corpus, tmp_path, monkeypatch, estimator, params, problem):
    """model.json names the estimator its allow-list is derived from: a function, a class that
    is no classifier or a hostile keyword is refused, in one line, and nothing of it runs."""
    folder = tmp_path / "m"
    shutil.copytree(corpus.base, folder)
    meta = json.loads((folder / bundles.META_FILE).read_text())
    meta["model_params"].update(estimator=estimator, params=params)
    (folder / bundles.META_FILE).write_text(json.dumps(meta))
    monkeypatch.chdir(tmp_path)
    with pytest.raises(IterateError, match=problem) as caught:
        bundles.load(folder)
    message = str(caught.value)
    assert "\n" not in message and "refusing to load the model" in message
    assert message.startswith(f"{folder / bundles.META_FILE}: model_params")
    assert not (tmp_path / "x").exists()
    assert_nothing_ran(corpus)


def test_the_corpus_is_live_its_payloads_run_when_skops_trusts_what_the_file_names(tmp_path):
    """Without the allow-list the files do run code (so the tests above prove something)."""
    live = write_corpus(tmp_path)
    code = ("import pickle, sys, pandas as pd, skops.io as sio\n"
            "data = open(sys.argv[1], 'rb').read()\n"
            "rows = pd.read_parquet(sys.argv[2])\n"
            "try:\n"
            "    model = sio.loads(data, trusted=sio.get_untrusted_types(data=data))\n"
            "    model.predict_proba(rows)\n"
            "except Exception:\n"
            "    pass\n")
    for case in LIVE:
        path = live.cases[case] / bundles.MODEL_FILE
        if case == "plain_pickle":
            pickle.loads(path.read_bytes())
        else:
            subprocess.run([sys.executable, "-c", code, str(path), str(live.holdout)],
                           check=True, capture_output=True)
    ran = sorted(name.removesuffix(".npy") for name in os.listdir(live.markers))
    assert ran == sorted(LIVE)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_iterate_predict_refuses_a_hostile_production_model(corpus, repo, case):
    production = repo.path / "models" / "production"
    shutil.rmtree(production, ignore_errors=True)
    shutil.copytree(corpus.cases[case], production)
    registered = corpus.base if case == "tampered_model_json" else corpus.cases[case]
    meta = json.loads((registered / bundles.META_FILE).read_text())
    (repo.path / "models" / "registry.yaml").write_text(yaml.safe_dump({"versions": [{
        "version": "1.0.0", "action": "promote", "time": "2026-01-01T00:00:00Z",
        "reason": "test", "forced": False, "model_sha256": meta["sha256"],
        "dvc": {"md5": "0.dir", "path": "production"}, "kind": meta["kind"],
        "train_mode": "full", "model_params": meta["model_params"], "training_data": {}}]}))
    (repo.path / "out.csv").unlink(missing_ok=True)

    result = repo.iterate("predict", "in.csv", "-o", "out.csv", check=False)

    assert_one_line_refusal(result)
    if case == "tampered_model_json":
        assert "does not match the registry" in result.stderr
    assert not (repo.path / "out.csv").exists()
    assert_nothing_ran(corpus)


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES)
def test_the_train_stage_refuses_a_hostile_baseline_model(corpus, repo, case):
    """The train stage is where a pipeline run loads the baseline (its drift step scores the
    holdout for the evaluate stage, which loads no model)."""
    out = repo.path / "metrics" / f"hostile-{case}"
    outputs = {"--drift": "drift.json", "--monitor": "monitor.json", "--advice": "advice.json",
               "--drift-numbers": "numbers.json", "--history": "plots",
               "--baseline-scores": "scores.parquet", "--baseline-shuffled": "shuffled.parquet",
               "--out": "candidate", "--scores": "candidate.parquet",
               "--shuffled": "candidate_shuffled.parquet"}
    result = repo.run(sys.executable, "-m", "iterate.stages.train", str(corpus.holdout),
                      str(corpus.holdout), str(corpus.cases[case]), str(out / "challenger"),
                      *(w for option, name in outputs.items() for w in (option, str(out / name))),
                      check=False)

    assert_one_line_refusal(result)
    assert "refusing to load it" in result.stderr
    assert not (out / "drift.json").exists() and not (out / "scores.parquet").exists()
    assert_nothing_ran(corpus)
