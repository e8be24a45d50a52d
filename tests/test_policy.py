"""The update policy: the advice from a drift report, the degradation alarm, the recommendation
`train.mode: auto` follows; and the history kept across iterations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from iterate.core import drift, history, policy, training
from iterate.core.evaluate import Interval

KINDS = {f"x{i}": "numeric" for i in range(4)} | {"c": "categorical"}


def sample(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(shift, 1.0, n) for i in range(4)})
    frame["c"] = rng.choice(["a", "b", "c"], n)
    return frame


def advice_for(shift: float) -> str:
    report = drift.compare(sample(5000, 0.0, 1), sample(5000, shift, 2), KINDS)
    return policy.recommend(report, has_new_data=True)[0]


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
    alarm, reason = policy.degradation("roc_auc", Interval(0.60, 0.58, 0.62), 0.66, 0.03)
    assert alarm and "fell" in reason
    alarm, _ = policy.degradation("roc_auc", Interval(0.61, 0.59, 0.64), 0.66, 0.03)
    assert not alarm, "the CI reaches 0.64 > 0.66 - 0.03: the loss is not shown by the data"


def test_degradation_of_a_loss_metric_is_an_increase():
    assert policy.degradation("log_loss", Interval(0.60, 0.58, 0.62), 0.50, 0.03)[0]
    assert not policy.degradation("log_loss", Interval(0.45, 0.43, 0.47), 0.50, 0.03)[0]


def test_no_value_at_promotion_never_alarms():
    assert policy.degradation("roc_auc", Interval(0.5, 0.4, 0.6), None, 0.03) == (
        False, "roc_auc: no value at promotion to compare with")


def test_an_alarm_overrides_the_drift_advice_with_a_full_refit():
    advice = policy.recommendation("incremental", ["new labelled data"], True, "auc fell")
    assert advice == {"recommendation": "full", "reasons": ["auc fell", "new labelled data"]}


def test_history_is_append_only_a_batch_recorded_twice_keeps_its_first_row():
    first = pd.DataFrame([{"batch": "b1", "value": 0.6}, {"batch": "b2", "value": 0.7}])
    again = pd.DataFrame([{"batch": "b2", "value": 0.71}])
    kept = history.append_new(None, first, ["batch"])
    assert history.append_new(kept, again, ["batch"]) is None, "nothing new: no rewrite"
    later = pd.DataFrame([{"batch": "b0", "value": 0.5}, {"batch": "b2", "value": 0.72}])
    assert history.append_new(kept, later, ["batch"]).to_dict("records") == [
        {"batch": "b1", "value": 0.6}, {"batch": "b2", "value": 0.7},
        {"batch": "b0", "value": 0.5}], "new rows go at the end; judged rows stay as they were"


def _shifted(rng, n, shifts):
    return pd.DataFrame({f"x{i}": rng.normal(s, 1.0, n) for i, s in enumerate(shifts)})


def test_recommend_full_on_a_severe_shift_of_several_columns():
    rng = np.random.default_rng(13)
    kinds = {f"x{i}": "numeric" for i in range(6)}
    report = drift.compare(_shifted(rng, 3000, [0] * 6), _shifted(rng, 3000, [3, 3, 3, 0, 0, 0]),
                           kinds)
    advice, reasons = policy.recommend(report, has_new_data=False)
    assert advice == "full"
    assert any("dataset drift" in r for r in reasons)
    assert sum("severe" in r for r in reasons) == 3


def test_recommend_full_when_one_column_moves_severely_or_unseen_categories_are_many():
    rng = np.random.default_rng(14)
    kinds = {f"x{i}": "numeric" for i in range(6)}
    report = drift.compare(_shifted(rng, 3000, [0] * 6), _shifted(rng, 3000, [3, 0, 0, 0, 0, 0]),
                           kinds)
    assert not report.dataset_drift
    assert policy.recommend(report, has_new_data=False)[0] == "full"
    ref = _shifted(rng, 3000, [0, 0]).assign(c=rng.choice(["a", "b"], 3000))
    new = rng.random(3000) < 0.06
    cur = _shifted(rng, 3000, [0, 0]).assign(c=np.where(new, "new", rng.choice(["a", "b"], 3000)))
    report = drift.compare(ref, cur, {"x0": "numeric", "x1": "numeric", "c": "categorical"})
    assert report.drifted == ["c"] and not report.dataset_drift
    assert report.column("c").effect_size < 0.2  # a mild drift by its effect size ...
    advice, reasons = policy.recommend(report, has_new_data=False)
    assert advice == "full"  # ... but 6 % of rows are in a category the model never saw
    assert reasons[0].startswith("c: 6.") and "never seen" in reasons[0]


def test_recommend_incremental_on_mild_drift_or_new_data_only():
    rng = np.random.default_rng(15)
    kinds = {f"x{i}": "numeric" for i in range(6)}
    ref = _shifted(rng, 5000, [0] * 6)
    mild = drift.compare(ref, _shifted(rng, 5000, [0.6, 0, 0, 0, 0, 0]), kinds)
    assert mild.drifted == ["x0"] and 0.2 <= mild.columns[0].effect_size < 0.5
    assert policy.recommend(mild, has_new_data=False) == ("incremental", [
        f"x0: psi {mild.columns[0].effect_size:.3f} (drift)"])
    calm = drift.compare(ref, _shifted(rng, 5000, [0] * 6), kinds)
    assert policy.recommend(calm, has_new_data=True) == ("incremental", ["new labelled data"])


def test_recommend_keep_when_nothing_new_and_no_drift_and_ignores_tiny_batches():
    rng = np.random.default_rng(16)
    kinds = {f"x{i}": "numeric" for i in range(3)}
    ref = _shifted(rng, 5000, [0] * 3)
    calm = drift.compare(ref, _shifted(rng, 5000, [0] * 3), kinds)
    assert policy.recommend(calm, has_new_data=False)[0] == "keep"
    tiny = drift.compare(ref, _shifted(rng, 8, [50] * 3), kinds)
    assert policy.recommend(tiny, has_new_data=False)[0] == "keep"
