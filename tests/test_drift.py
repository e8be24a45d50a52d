"""Tests of core.drift: calibration under no drift, power, effect-size gating, small samples,
multiple-testing corrections, effect sizes against references, real seasonal data."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial import distance

from iterate.core import drift
from iterate.params import Column, Contract, Drift

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "data" / "source" / "flights_weather_2013.csv.gz"
CATEGORIES = np.array(["EWR", "JFK", "LGA", "BOS"])
CATEGORY_P = [0.4, 0.3, 0.2, 0.1]


def _null_frames(rng, n, kind):
    if kind == "numeric":
        return pd.DataFrame({"x": rng.normal(size=n)}), pd.DataFrame({"x": rng.normal(size=n)})
    ref = rng.choice(CATEGORIES, n, p=CATEGORY_P)
    return pd.DataFrame({"x": ref}), pd.DataFrame({"x": rng.choice(CATEGORIES, n, p=CATEGORY_P)})


def _statsmodels_holm(p):
    """statsmodels' multipletests(method="holm") formula, written out."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    adj = np.minimum(np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1)), 1.0)
    out = np.empty_like(adj)
    out[order] = adj
    return out


def _statsmodels_bh(p):
    """statsmodels' multipletests(method="fdr_bh") formula, written out."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p)
    raw = p[order] / (np.arange(1, p.size + 1) / p.size)
    adj = np.minimum(np.minimum.accumulate(raw[::-1])[::-1], 1.0)
    out = np.empty_like(adj)
    out[order] = adj
    return out


# --------------------------------------------------------------------------- calibration, power


@pytest.mark.parametrize("kind", ["numeric", "categorical"])
def test_identical_distributions_flag_drift_in_fewer_than_alpha_of_200_trials(kind):
    rng = np.random.default_rng(20240601)
    drifts, raw_significant = 0, 0
    for _ in range(200):
        ref, cur = _null_frames(rng, 2000, kind)
        col = drift.compare(ref, cur, {"x": kind}).columns[0]
        drifts += col.status == "drift"
        raw_significant += col.p_value < 0.05
    assert drifts / 200 < 0.05
    # The test itself is calibrated (not broken and hidden by the effect-size gate): its raw
    # rejection rate is within 3 binomial sd (0.015 over 200 trials) of alpha.
    assert 0.005 <= raw_significant / 200 <= 0.095


def test_half_sigma_mean_shift_on_5000_rows_is_drift():
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"x": rng.normal(0.0, 1.0, 5000)})
    cur = pd.DataFrame({"x": rng.normal(0.5, 1.0, 5000)})
    col = drift.compare(ref, cur, {"x": "numeric"}).columns[0]
    assert col.status == "drift"
    assert col.p_value_corrected < 1e-10
    assert col.effect_size >= 0.2
    assert col.wasserstein == pytest.approx(0.5, abs=0.05)


def test_tiny_shift_on_a_million_rows_is_significant_but_stable():
    rng = np.random.default_rng(2)
    n = 1_000_000
    ref = pd.DataFrame({"x": rng.normal(0.0, 1.0, n)})
    cur = pd.DataFrame({"x": rng.normal(0.01, 1.0, n)})
    col = drift.compare(ref, cur, {"x": "numeric"}).columns[0]
    assert col.p_value_corrected < 1e-3  # the test sees the shift ...
    assert col.effect_size < 0.01  # ... but it is negligible
    assert col.status == "stable"


def test_label_rate_and_prediction_score_are_compared_as_extra_columns():
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"late": (rng.random(5000) < 0.2).astype(int),
                        "score": rng.beta(2, 6, 5000)})
    cur = pd.DataFrame({"late": (rng.random(3000) < 0.6).astype(int),
                        "score": rng.beta(2, 6, 3000)})
    report = drift.compare(ref, cur, {"late": "categorical", "score": "numeric"})
    assert report.column("late").status == "drift"
    assert report.column("late").test == "chi2"
    assert report.column("score").status == "stable"
    assert report.column("score").test == "ks"


# --------------------------------------------------------------------------- small samples


def test_eight_rows_are_insufficient_data_never_drift_even_for_a_huge_shift():
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"x": rng.normal(size=5000), "c": rng.choice(["a", "b"], 5000)})
    cur = pd.DataFrame({"x": rng.normal(100.0, 1.0, 8), "c": ["z"] * 8})
    report = drift.compare(ref, cur, {"x": "numeric", "c": "categorical"})
    for col in report.columns:
        assert col.status == "insufficient_data"
        assert math.isnan(col.p_value_corrected)
        assert math.isfinite(col.p_value) and math.isfinite(col.effect_size)  # still reported
    assert report.column("x").effect_size > 1.0
    assert report.drifted == [] and not report.dataset_drift and math.isnan(report.share)
    assert report.tested == 0


def test_min_samples_counts_non_missing_values_of_both_samples():
    rng = np.random.default_rng(5)
    ref = pd.DataFrame({"x": rng.normal(size=1000)})
    cur = rng.normal(5.0, 1.0, 40)
    cur[:11] = np.nan  # 29 values left
    assert drift.compare(ref, pd.DataFrame({"x": cur}),
                         {"x": "numeric"}).columns[0].status == "insufficient_data"
    cur[10] = 5.0  # 30 values
    assert drift.compare(ref, pd.DataFrame({"x": cur}), {"x": "numeric"}).columns[0].status == (
        "drift"
    )


def test_missing_values_are_excluded_from_tests_and_their_rates_reported():
    rng = np.random.default_rng(6)
    x = rng.normal(size=2000)
    ref = pd.DataFrame({"x": x, "c": pd.Series(rng.choice(["a", "b"], 2000), dtype=object)})
    cur = ref.copy()
    cur.loc[:999, "x"] = np.nan
    cur.loc[:499, "c"] = None
    ref_with_nan = ref.copy()
    ref_with_nan.loc[:99, "x"] = np.inf  # non-finite counts as missing
    report = drift.compare(ref_with_nan, cur, {"x": "numeric", "c": "categorical"})
    x_col, c_col = report.column("x"), report.column("c")
    assert (x_col.n_reference, x_col.n_current) == (1900, 1000)
    assert x_col.missing_reference == pytest.approx(0.05)
    assert x_col.missing_current == pytest.approx(0.5)
    assert x_col.statistic == pytest.approx(stats.ks_2samp(x[100:], x[1000:]).statistic)
    assert (c_col.n_reference, c_col.n_current, c_col.missing_current) == (2000, 1500, 0.25)
    assert c_col.unseen_categories == []


# --------------------------------------------------------------------------- categories


def test_new_category_is_reported_in_unseen_categories_with_its_share_not_dropped():
    rng = np.random.default_rng(7)
    ref = pd.DataFrame({"c": rng.choice(CATEGORIES[:3], 4000)})
    cur_values = rng.choice(CATEGORIES[:3], 2000).astype(object)
    cur_values[:200] = "SFO"  # 10 %
    cur_values[200:250] = "ORD"  # 2.5 %
    cur = pd.DataFrame({"c": cur_values})
    col = drift.compare(ref, cur, {"c": "categorical"}).columns[0]
    assert col.unseen_categories == ["SFO", "ORD"]  # most frequent first
    assert col.unseen_share == pytest.approx(0.125)
    # counted in the test and the effect size: 5 categories in the 2 x k table
    cats = ["EWR", "JFK", "LGA", "SFO", "ORD"]
    ref_counts = [int((ref["c"] == c).sum()) for c in cats]
    cur_counts = [int((cur["c"] == c).sum()) for c in cats]
    expected = stats.chi2_contingency(np.array([ref_counts, cur_counts]), correction=False)
    assert col.statistic == pytest.approx(expected.statistic)
    assert col.effect_size == pytest.approx(drift.jensen_shannon(ref_counts, cur_counts))


def test_categories_absent_from_both_samples_are_dropped_from_the_table():
    dtype = pd.CategoricalDtype(["a", "b", "c", "never"])
    ref = pd.DataFrame({"c": pd.Series(["a"] * 60 + ["b"] * 40, dtype=dtype)})
    cur = pd.DataFrame({"c": pd.Series(["a"] * 30 + ["b"] * 50 + ["c"] * 20, dtype=dtype)})
    col = drift.compare(ref, cur, {"c": "categorical"}).columns[0]
    expected = stats.chi2_contingency(np.array([[60, 40, 0], [30, 50, 20]]), correction=False)
    assert col.statistic == pytest.approx(expected.statistic)
    assert col.p_value == pytest.approx(expected.pvalue)
    assert col.unseen_categories == ["c"]


# --------------------------------------------------------------------------- corrections


def test_holm_keeps_family_wise_error_at_alpha_across_20_null_columns():
    rng = np.random.default_rng(8)
    # Effect thresholds at 0 so that "drift" means "significant after correction".
    options = Drift(psi_threshold=0.0, js_threshold=0.0)
    kinds = {f"x{i}": "numeric" for i in range(20)}
    trials, any_holm, any_raw, any_bh = 300, 0, 0, 0
    for _ in range(trials):
        ref = pd.DataFrame(rng.normal(size=(100, 20)), columns=list(kinds))
        cur = pd.DataFrame(rng.normal(size=(100, 20)), columns=list(kinds))
        report = drift.compare(ref, cur, kinds, options)
        p = np.array([c.p_value for c in report.columns])
        any_holm += bool(report.drifted)
        any_raw += bool(np.any(p < 0.05))
        any_bh += bool(np.any(drift.benjamini_hochberg(p) < 0.05))
    assert any_holm / trials <= 0.05 + 0.025
    assert any_bh / trials <= 0.05 + 0.025  # all nulls: FDR = FWER
    assert any_raw / trials >= 0.45  # 1 - 0.95**20 = 0.64 with exact-size tests


def test_holm_and_benjamini_hochberg_match_hand_computed_examples():
    p = [0.01, 0.04, 0.03, 0.005]
    # Holm: sorted 0.005, 0.01, 0.03, 0.04 times 4, 3, 2, 1 = 0.02, 0.03, 0.06, 0.04 -> running max
    np.testing.assert_allclose(drift.holm(p), [0.03, 0.06, 0.06, 0.02])
    # BH: sorted times 4/1, 4/2, 4/3, 4/4 = 0.02, 0.02, 0.04, 0.04 -> running min from the top
    np.testing.assert_allclose(drift.benjamini_hochberg(p), [0.02, 0.04, 0.04, 0.02])
    np.testing.assert_allclose(drift.holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    np.testing.assert_allclose(drift.holm([]), [])
    out = drift.holm([0.01, np.nan, 0.02])  # NaN is not a test: m = 2
    np.testing.assert_allclose(out, [0.02, np.nan, 0.02])
    np.testing.assert_allclose(drift.benjamini_hochberg([0.01, np.nan, 0.04]), [0.02, np.nan, 0.04])
    with pytest.raises(ValueError):
        drift.holm([0.5, 1.5])


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(0.0, 1.0, allow_subnormal=False), min_size=1, max_size=30),
       st.sampled_from([0.01, 0.05, 0.2]))
@example([0.0, 0.0, 0.2], 0.2)  # found by hypothesis: a p-value on the BH boundary
def test_holm_and_bh_equal_statsmodels_formulas_and_step_procedures(p, alpha):
    p = np.array(p)
    holm, bh = drift.holm(p), drift.benjamini_hochberg(p)
    np.testing.assert_allclose(holm, _statsmodels_holm(p), rtol=1e-12)
    np.testing.assert_allclose(bh, _statsmodels_bh(p), rtol=1e-12)
    m, order = p.size, np.argsort(p, kind="stable")
    # Holm step-down: reject sorted hypotheses while p_(k) <= alpha / (m - k + 1) (written
    # p_(k) * (m - k + 1) <= alpha, so that float rounding matches at the boundary).
    reject_holm = np.zeros(m, dtype=bool)
    for k, i in enumerate(order):
        if p[i] * (m - k) > alpha:
            break
        reject_holm[i] = True
    np.testing.assert_array_equal(holm <= alpha, reject_holm)
    # BH step-up: reject the k smallest where k is the largest with p_(k) <= k alpha / m
    # (written p_(k) m <= k alpha, so that float rounding matches at the boundary: p = [0, 0,
    # 0.2] at alpha 0.2 rejects all three).
    below = np.flatnonzero(p[order] * m <= alpha * np.arange(1, m + 1))
    reject_bh = np.zeros(m, dtype=bool)
    if below.size:
        reject_bh[order[: below[-1] + 1]] = True
    np.testing.assert_array_equal(bh <= alpha, reject_bh)


def test_correction_option_selects_the_adjustment():
    rng = np.random.default_rng(9)
    kinds = {f"x{i}": "numeric" for i in range(5)}
    ref = pd.DataFrame(rng.normal(size=(300, 5)), columns=list(kinds))
    cur = pd.DataFrame(rng.normal(0.1, 1.0, size=(300, 5)), columns=list(kinds))
    raw = np.array([c.p_value for c in drift.compare(ref, cur, kinds).columns])
    for name, expected in (("holm", drift.holm(raw)), ("bh", drift.benjamini_hochberg(raw)),
                           ("none", raw)):
        report = drift.compare(ref, cur, kinds, Drift(correction=name))
        np.testing.assert_allclose([c.p_value_corrected for c in report.columns], expected)


# --------------------------------------------------------------------------- effect sizes


def test_psi_is_zero_for_identical_samples_and_grows_with_the_shift():
    rng = np.random.default_rng(10)
    ref = rng.normal(size=20000)
    assert drift.psi(ref, ref) == 0.0
    assert drift.psi(ref, ref.copy()[::-1]) == 0.0
    values = [drift.psi(ref, rng.normal(shift, 1.0, 20000)) for shift in (0.0, 0.25, 0.5, 1, 2)]
    assert values[0] < 0.01
    assert all(a < b for a, b in zip(values, values[1:], strict=False))
    assert drift.psi(ref, ref + 100.0) > 5.0  # all in the open last bin: finite thanks to eps


def test_psi_uses_reference_quantile_bins_closed_on_the_right():
    ref = np.arange(1.0, 101.0)  # deciles 10.9, 20.8, ...: 10 values per bin
    cur = np.concatenate([np.full(50, 5.0), np.full(50, 95.0)])  # half first bin, half last
    pr, pc = np.full(10, 0.1), np.array([0.5] + [1e-4] * 8 + [0.5])
    assert drift.psi(ref, cur) == pytest.approx(np.sum((pc - pr) * np.log(pc / pr)))
    # a spike at 0 (zero-inflated column) gets its own bin, deduplicated edges
    zeros = np.concatenate([np.zeros(900), np.arange(1.0, 101.0)])
    assert drift.psi(zeros, zeros) == 0.0
    # deciles 0, ..., 0, 0.1 (interpolated) -> bins (-inf, 0], (0, 0.1], (0.1, inf)
    shares = [(0.9, 1.0), (1e-4, 1e-4), (0.1, 1e-4)]  # (reference, current), empty -> eps
    assert drift.psi(zeros, np.zeros(100)) == pytest.approx(
        sum((c - r) * math.log(c / r) for r, c in shares))
    assert math.isnan(drift.psi([], [1.0, 2.0]))


def test_jensen_shannon_is_zero_for_identical_and_one_for_disjoint_distributions():
    assert drift.jensen_shannon([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0, abs=1e-12)
    assert drift.jensen_shannon([5, 0, 0], [0, 3, 4]) == pytest.approx(1.0)
    p, q = [10, 20, 30, 0], [30, 5, 20, 5]
    assert drift.jensen_shannon(p, q) == pytest.approx(distance.jensenshannon(p, q, base=2))
    assert drift.jensen_shannon(p, q) == pytest.approx(drift.jensen_shannon(q, p))
    assert math.isnan(drift.jensen_shannon([0, 0], [1, 2]))


def test_wasserstein_is_scipys_divided_by_the_reference_std():
    rng = np.random.default_rng(11)
    ref = rng.integers(0, 20, 3000).astype(float)  # ties
    cur = rng.integers(3, 25, 700).astype(float)
    col = drift.compare(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}),
                        {"x": "numeric"}).columns[0]
    assert col.wasserstein == pytest.approx(stats.wasserstein_distance(ref, cur) / ref.std())
    assert col.statistic == pytest.approx(stats.ks_2samp(ref, cur).statistic)
    assert col.p_value == pytest.approx(stats.ks_2samp(ref, cur).pvalue)


# --------------------------------------------------------------------------- real data


@pytest.fixture(scope="module")
def flights():
    frame = pd.read_csv(SOURCE, usecols=["time_hour", "temp", "origin", "carrier"])
    frame["time_hour"] = pd.to_datetime(frame["time_hour"], utc=True)
    return frame


def _days(frame, start, days=7):
    t0 = pd.Timestamp(start, tz="UTC")
    return frame[(frame["time_hour"] >= t0) & (frame["time_hour"] < t0 + pd.Timedelta(days=days))]


def test_real_data_january_vs_july_drifts_in_temp_more_than_consecutive_weeks(flights):
    kinds = {"temp": "numeric", "origin": "categorical", "carrier": "categorical"}
    month = flights["time_hour"].dt.month
    january, july = flights[month == 1], flights[month == 7]
    assert january["temp"].mean() < 40 < 75 < july["temp"].mean()
    seasonal = drift.compare(january, july, kinds)
    assert seasonal.column("temp").status == "drift"
    assert seasonal.column("temp").effect_size > 5.0
    assert "temp" in seasonal.drifted
    for first in ("2013-01-07", "2013-07-08"):
        weeks = drift.compare(_days(flights, first), _days(flights, pd.Timestamp(first) +
                                                          pd.Timedelta(days=7)), kinds)
        assert weeks.column("temp").effect_size < seasonal.column("temp").effect_size / 2
        assert weeks.column("temp").wasserstein < seasonal.column("temp").wasserstein / 2


def test_real_data_origin_is_stable_between_two_consecutive_weeks(flights):
    kinds = {"origin": "categorical", "carrier": "categorical"}
    report = drift.compare(_days(flights, "2013-03-04"), _days(flights, "2013-03-11"), kinds)
    origin = report.column("origin")
    assert origin.status == "stable"
    assert origin.n_reference > 5000 and origin.n_current > 5000
    assert origin.effect_size < 0.05
    assert origin.unseen_categories == []


# --------------------------------------------------------------------------- dataset, advice


def _shifted(rng, n, shifts):
    return pd.DataFrame({f"x{i}": rng.normal(s, 1.0, n) for i, s in enumerate(shifts)})


def test_dataset_drifts_when_the_share_of_drifting_tested_columns_reaches_the_threshold():
    rng = np.random.default_rng(12)
    kinds = {f"x{i}": "numeric" for i in range(4)}
    ref = _shifted(rng, 3000, [0, 0, 0, 0])
    half = drift.compare(ref, _shifted(rng, 3000, [1, 1, 0, 0]), kinds)
    assert half.drifted == ["x0", "x1"] and half.share == 0.5 and half.dataset_drift
    quarter = drift.compare(ref, _shifted(rng, 3000, [1, 0, 0, 0]), kinds)
    assert quarter.share == 0.25 and not quarter.dataset_drift
    strict = drift.compare(ref, _shifted(rng, 3000, [1, 0, 0, 0]), kinds,
                           Drift(share_threshold=0.25))
    assert strict.dataset_drift


# --------------------------------------------------------------------------- output, inputs


def test_to_dict_is_json_safe_with_an_all_missing_and_a_constant_column_in_input_order():
    rng = np.random.default_rng(17)
    n = 500
    ref = pd.DataFrame({"z": rng.normal(size=n), "empty": np.full(n, np.nan),
                        "const": np.ones(n), "c": rng.choice(["a", "b"], n),
                        "late": rng.integers(0, 2, n)})
    cur = ref.assign(const=np.r_[np.ones(n - 100), np.full(100, 2.0)],
                     c=np.r_[["a"] * (n - 1), [None]],
                     late=np.r_[rng.integers(0, 2, n - 1), 7])
    kinds = {"z": "numeric", "empty": "numeric", "const": "numeric", "c": "categorical",
             "late": "categorical"}
    report = drift.compare(ref, cur, kinds)
    out = drift.to_dict(report)
    text = json.dumps(out, allow_nan=False)
    assert list(out["columns"]) == list(kinds)
    empty, const = out["columns"]["empty"], out["columns"]["const"]
    assert empty["status"] == "insufficient_data"
    assert empty["statistic"] is None and empty["effect_size"] is None
    assert empty["missing_reference"] == 1.0 and empty["n_current"] == 0
    assert const["wasserstein"] is None  # reference std 0 and samples differ: inf -> None
    assert const["status"] == "drift"
    assert out["columns"]["late"]["unseen_categories"] == [7]
    assert isinstance(out["columns"]["late"]["unseen_categories"][0], int)
    assert out["columns"]["c"]["missing_current"] == 0.002
    assert out["n_columns"] == 5 and out["n_tested"] == 4
    assert out["options"]["correction"] == "holm"
    assert len(str(out["columns"]["z"]["p_value"]).split(".")[-1]) <= 6
    assert json.loads(text) == out
    assert set(out["columns"]["z"]) == {f for f in drift.ColumnDrift.__dataclass_fields__
                                        if f != "name"}


def test_kinds_from_contract_maps_int_and_float_to_numeric_and_category_to_categorical():
    contract = Contract(time_column="t", label="y", columns={
        "dep": Column("int"), "carrier": Column("category"), "temp": Column("float")})
    assert drift.kinds_from_contract(contract) == {
        "dep": "numeric", "carrier": "categorical", "temp": "numeric"}


def test_compare_rejects_unknown_kinds_missing_columns_and_non_numeric_values():
    ref = pd.DataFrame({"x": [1.0, 2.0], "s": ["a", "b"]})
    with pytest.raises(ValueError, match="kind"):
        drift.compare(ref, ref, {"x": "ordinal"})
    with pytest.raises(ValueError, match="missing from current"):
        drift.compare(ref, ref[["s"]], {"x": "numeric"})
    with pytest.raises(ValueError, match="declared numeric"):
        drift.compare(ref, ref, {"s": "numeric"})
