"""Monitoring: the degradation alarm, the recommendation `train.mode: auto` follows, and the
history kept across iterations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iterate.core import drift, monitor, training
from iterate.core.evaluate import Interval

KINDS = {f"x{i}": "numeric" for i in range(4)} | {"c": "categorical"}


def sample(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(shift, 1.0, n) for i in range(4)})
    frame["c"] = rng.choice(["a", "b", "c"], n)
    return frame


def advice_for(shift: float) -> str:
    report = drift.compare(sample(5000, 0.0, 1), sample(5000, shift, 2), KINDS)
    return drift.recommend(report, has_new_data=True)[0]


@pytest.mark.parametrize(("shift", "mode"), [(3.0, "full"), (0.0, "incremental")])
def test_auto_mode_refits_fully_on_a_severe_shift_and_updates_incrementally_otherwise(
        shift, mode):
    assert training.resolve_mode("auto", advice_for(shift)) == mode


def test_auto_mode_without_a_recommendation_refits_fully():
    assert training.resolve_mode("auto", None) == "full"


@pytest.mark.parametrize("mode", ["full", "incremental"])
def test_explicit_modes_ignore_the_recommendation(mode):
    assert training.resolve_mode(mode, "full" if mode == "incremental" else "keep") == mode


def test_degradation_alarms_only_when_the_whole_ci_is_below_the_tolerated_loss():
    alarm, reason = monitor.degradation("roc_auc", Interval(0.60, 0.58, 0.62), 0.66, 0.03)
    assert alarm and "fell" in reason
    alarm, _ = monitor.degradation("roc_auc", Interval(0.61, 0.59, 0.64), 0.66, 0.03)
    assert not alarm, "the CI reaches 0.64 > 0.66 - 0.03: the loss is not shown by the data"


def test_degradation_of_a_loss_metric_is_an_increase():
    assert monitor.degradation("log_loss", Interval(0.60, 0.58, 0.62), 0.50, 0.03)[0]
    assert not monitor.degradation("log_loss", Interval(0.45, 0.43, 0.47), 0.50, 0.03)[0]


def test_no_value_at_promotion_never_alarms():
    assert monitor.degradation("roc_auc", Interval(0.5, 0.4, 0.6), None, 0.03) == (
        False, "roc_auc: no value at promotion to compare with")


def test_an_alarm_overrides_the_drift_advice_with_a_full_refit():
    advice = monitor.recommendation("incremental", ["new labelled data"], True, "auc fell")
    assert advice == {"recommendation": "full", "reasons": ["auc fell", "new labelled data"]}


def test_history_is_append_only_a_batch_recorded_twice_keeps_its_first_row():
    first = pd.DataFrame([{"batch": "b1", "value": 0.6}, {"batch": "b2", "value": 0.7}])
    again = pd.DataFrame([{"batch": "b2", "value": 0.71}])
    history = monitor.append_new(None, first, ["batch"])
    assert monitor.append_new(history, again, ["batch"]) is None, "nothing new: no rewrite"
    later = pd.DataFrame([{"batch": "b0", "value": 0.5}, {"batch": "b2", "value": 0.72}])
    assert monitor.append_new(history, later, ["batch"]).to_dict("records") == [
        {"batch": "b1", "value": 0.6}, {"batch": "b2", "value": 0.7},
        {"batch": "b0", "value": 0.5}], "new rows go at the end; judged rows stay as they were"
