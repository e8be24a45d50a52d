"""The decision threshold (``model.threshold``): a number, or a rule (max_f1, base_rate) chosen
on the training window's in-sample scores when the model is trained, recorded with the model
and used by every reader: evaluation (each model at its own), predict, the backtest."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from helpers import full_fit, raw_params, sgd_model, week
from test_backtest import SETTINGS, stream

from iterate import params
from iterate.core import backtest, contract, evaluate, threshold
from iterate.errors import ParamsError

P = params.parse(raw_params())


def test_a_number_is_the_threshold_itself():
    assert threshold.choose(0.3, [0, 1], [0.1, 0.9]) == 0.3


def test_base_rate_is_the_positive_share_of_the_training_labels():
    assert threshold.choose("base_rate", [0, 0, 0, 1], [0.1, 0.2, 0.3, 0.9]) == 0.25


def test_max_f1_picks_the_cut_with_the_best_f1_on_the_training_rows():
    y = np.array([0, 0, 1, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.4, 0.8, 0.9])
    cut = threshold.choose("max_f1", y, scores)
    assert cut == 0.3  # predicts 1 for 0.3, 0.4, 0.8, 0.9: F1 6/7, the best of every cut
    f1 = {c: evaluate.score(y, scores, c)["f1"] for c in scores}
    assert f1[cut] == max(f1.values())


def test_max_f1_takes_the_lowest_of_equal_cuts():
    y, scores = np.array([1, 0, 0, 1]), np.array([0.1, 0.2, 0.3, 0.9])
    f1 = {c: evaluate.score(y, scores, c)["f1"] for c in scores}
    assert f1[0.1] == pytest.approx(f1[0.9]) == pytest.approx(2 / 3)  # all rows, or the top
    assert max(f1.values()) == pytest.approx(2 / 3)
    assert threshold.choose("max_f1", y, scores) == 0.1


def test_a_rule_on_training_rows_of_one_class_is_refused_naming_the_key():
    with pytest.raises(ValueError, match="model.threshold: max_f1 needs training rows of both"):
        threshold.choose("max_f1", [0, 0], [0.1, 0.2])


@pytest.mark.parametrize(("value", "said"), [
    ("median", "model.threshold: str 'median' is not one of max_f1, base_rate"),
    (0, "model.threshold: must be between 0 and 1 (exclusive), got 0"),
    (True, "model.threshold: expected a number, got bool True"),
])
def test_a_wrong_threshold_setting_is_refused_in_one_line_naming_the_key(value, said):
    raw = raw_params()
    raw["model"]["threshold"] = value
    with pytest.raises(ParamsError, match=re.escape(said)):
        params.parse(raw)


def test_a_rule_is_accepted_in_params():
    raw = raw_params()
    raw["model"]["threshold"] = "max_f1"
    assert params.parse(raw).model.threshold == "max_f1"


def test_training_with_a_rule_records_the_chosen_number_and_predictions_use_it(tmp_path):
    rows = contract.validate(week(1, step=2), P.contract).good.assign(batch_id="b1")
    model = dataclasses.replace(sgd_model(), threshold="max_f1")

    bundle = full_fit(rows, model, tmp_path)

    reference = bundle.reference
    expected = threshold.choose("max_f1", reference[P.contract.label], reference["score"])
    assert bundle.meta["threshold"] == bundle.meta["output"]["threshold"] == expected
    assert 0 < expected < 1 and expected != 0.5
    assert bundle.meta["model_params"]["threshold"] == "max_f1", "the rule, as params said"
    base = full_fit(rows, dataclasses.replace(model, threshold="base_rate"), tmp_path / "b")
    assert base.meta["threshold"] == pytest.approx(rows[P.contract.label].mean())


def test_a_numeric_threshold_is_recorded_unchanged(tmp_path):
    rows = contract.validate(week(1, step=2), P.contract).good.assign(batch_id="b1")
    bundle = full_fit(rows, dataclasses.replace(sgd_model(), threshold=0.3), tmp_path)
    assert bundle.meta["threshold"] == bundle.meta["output"]["threshold"] == 0.3


def test_compare_cuts_each_model_at_its_own_threshold():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 500)
    pc, pp = rng.random(500), rng.random(500)

    both = evaluate.compare(y, pc, pp, (0.3, 0.7), resamples=50)

    assert both["f1"].candidate.value == pytest.approx(evaluate.score(y, pc, 0.3)["f1"])
    assert both["f1"].production.value == pytest.approx(evaluate.score(y, pp, 0.7)["f1"])
    same = evaluate.compare(y, pc, pp, 0.3, resamples=50)
    assert same["f1"].production.value == pytest.approx(evaluate.score(y, pp, 0.3)["f1"])


def test_the_backtest_cuts_each_model_at_the_threshold_its_rule_chose():
    s = dataclasses.replace(SETTINGS, model=dataclasses.replace(SETTINGS.model,
                                                                threshold="base_rate"),
                            policies=("frozen", "loop"))
    result = backtest.run(stream(8), s)

    lab = backtest.Lab(stream(8), s)
    first = lab.full(lab.window(s.warmup - 1))
    base_rate = np.concatenate([lab.y[i] for i in first.trained]).mean()
    assert lab.cut(first) == pytest.approx(base_rate, abs=0.05), "on its reference sample"
    frozen = [step for step in result.policies["frozen"].steps]
    t = frozen[0].batch
    expected = evaluate.score(lab.y[t], lab.proba(first, t), lab.cut(first))["f1"]
    assert frozen[0].metrics["f1"] == pytest.approx(expected)
    assert backtest.summary(result)["settings"]["threshold"] == "base_rate"
