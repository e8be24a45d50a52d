"""Tests of core.evaluate: metrics against scikit-learn, CIs against brute force and coverage."""

import json
import math

import numpy as np
import pytest
from scipy import integrate, stats
from sklearn import metrics as skm

from iterate.core import evaluate as ev

THRESHOLD_METRICS = ("accuracy", "precision", "recall", "f1")


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _pair(n, seed, mu_c=1.2, mu_p=1.0, rho=0.6, base_rate=0.3, shift=0.5):
    """Labels and two correlated binormal-score models (proba = sigmoid(score - shift))."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < base_rate).astype(int)
    e_c = rng.standard_normal(n)
    e_p = rho * e_c + math.sqrt(1 - rho**2) * rng.standard_normal(n)
    return y, _sigmoid(mu_c * y + e_c - shift), _sigmoid(mu_p * y + e_p - shift)


def _sklearn_scores(y, p, threshold):
    label = (p >= threshold).astype(int)
    return {
        "accuracy": skm.accuracy_score(y, label),
        "precision": skm.precision_score(y, label, zero_division=0),
        "recall": skm.recall_score(y, label, zero_division=0),
        "f1": skm.f1_score(y, label, zero_division=0),
        "roc_auc": skm.roc_auc_score(y, p),
        "log_loss": skm.log_loss(y, p),
        "brier": skm.brier_score_loss(y, p),
    }


def _confusion_metrics(tp, fp, fn, tn):
    """Reference threshold metrics from confusion counts, written independently of the module."""
    tp, fp, fn, tn = (np.asarray(c, dtype=float) for c in (tp, fp, fn, tn))
    with np.errstate(divide="ignore", invalid="ignore"):
        prec = np.where(tp + fp > 0, tp / (tp + fp), 0.0)
        rec = np.where(tp + fn > 0, tp / (tp + fn), 0.0)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), 0.0)
    return {"accuracy": (tp + tn) / (tp + fp + fn + tn), "precision": prec, "recall": rec, "f1": f1}


def _row_bootstrap(y, pc, pp, threshold, resamples, seed):
    """Brute-force paired row bootstrap: (candidate, production) metric draws per resample.

    Each resample draws n row indices with replacement; its AUC is computed exactly from the
    row multiplicities (continuous scores, no ties) and the threshold metrics from its counts.
    """
    rng = np.random.default_rng(seed)
    n = y.size
    idx = rng.integers(0, n, size=(resamples, n))
    weights = np.bincount(
        (np.arange(resamples)[:, None] * n + idx).ravel(), minlength=resamples * n
    )
    weights = weights.reshape(resamples, n).astype(float)
    out = []
    for p in (pc, pp):
        label = p >= threshold
        wpos, wneg = weights * (y == 1), weights * (y == 0)
        counts = {
            "tp": (wpos * label).sum(1),
            "fn": (wpos * ~label).sum(1),
            "fp": (wneg * label).sum(1),
            "tn": (wneg * ~label).sum(1),
        }
        draws = _confusion_metrics(counts["tp"], counts["fp"], counts["fn"], counts["tn"])
        order = np.argsort(p)
        neg_below = np.cumsum(wneg[:, order], axis=1) - wneg[:, order]
        pairs = (wpos[:, order] * neg_below).sum(1)
        draws["roc_auc"] = pairs / (wpos.sum(1) * wneg.sum(1))
        out.append(draws)
    return out


@pytest.fixture(scope="module")
def small_case():
    y, pc, pp = _pair(2000, seed=11)
    assert np.unique(pc).size == pc.size and np.unique(pp).size == pp.size  # no ties
    boot_c, boot_p = _row_bootstrap(y, pc, pp, 0.5, resamples=2000, seed=123)
    return y, pc, pp, boot_c, boot_p


# --------------------------------------------------------------------------- point metrics


def test_metric_names_and_directions():
    from iterate.core import metrics

    assert ev.METRICS == metrics.METRICS == ("accuracy", "precision", "recall", "f1", "roc_auc",
                                             "log_loss", "brier")
    assert set(metrics.HIGHER_IS_BETTER) == set(ev.METRICS)
    assert [m for m in ev.METRICS if not metrics.HIGHER_IS_BETTER[m]] == ["log_loss", "brier"]


@pytest.mark.parametrize(("seed", "threshold"), [(0, 0.5), (1, 0.3), (2, 0.7), (3, 0.05)])
def test_score_equals_sklearn_on_random_data(seed, threshold):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, 500)
    p = np.clip(rng.beta(2, 3, 500) + 0.2 * y, 0.001, 0.999)
    got = ev.score(y, p, threshold)
    assert list(got) == list(ev.METRICS)
    for name, want in _sklearn_scores(y, p, threshold).items():
        assert got[name] == pytest.approx(want, rel=1e-12, abs=1e-12), name


def test_score_equals_sklearn_with_no_predicted_positives():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 300)
    p = rng.uniform(0.01, 0.4, 300)
    got = ev.score(y, p, threshold=0.5)
    assert got["precision"] == got["recall"] == got["f1"] == 0.0
    for name, want in _sklearn_scores(y, p, 0.5).items():
        assert got[name] == pytest.approx(want, rel=1e-12, abs=1e-12), name


def test_roc_auc_equals_sklearn_with_tied_scores():
    rng = np.random.default_rng(6)
    y = rng.integers(0, 2, 1000)
    p = np.round(rng.uniform(0, 1, 1000) * 0.6 + 0.3 * y, 1)  # many ties across classes
    assert ev.score(y, p, 0.5)["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p), abs=1e-12)


def test_midranks_equal_scipy_rankdata_with_ties():
    a = np.random.default_rng(7).integers(0, 20, 500).astype(float)
    np.testing.assert_array_equal(ev._midranks(a), stats.rankdata(a))


def test_log_loss_clips_probabilities_at_1e15():
    assert ev.score([1], [0.0], 0.5)["log_loss"] == pytest.approx(-math.log(1e-15), rel=1e-12)
    want = -math.log(1.0 - (1.0 - 1e-15))  # p = 1 clipped to 1 - 1e-15, label 0
    assert ev.score([0], [1.0], 0.5)["log_loss"] == pytest.approx(want, rel=1e-12)


def test_invalid_inputs_raise_value_error():
    with pytest.raises(ValueError, match="only 0 and 1"):
        ev.score([0, 2], [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match="shape"):
        ev.score([0, 1], [0.1], 0.5)
    with pytest.raises(ValueError, match="probabilities"):
        ev.score([0, 1], [0.1, np.nan], 0.5)
    with pytest.raises(ValueError, match="non-empty"):
        ev.score([], [], 0.5)
    with pytest.raises(ValueError, match="confidence"):
        ev.describe([0, 1], [0.1, 0.9], 0.5, confidence=1.0)


# --------------------------------------------------------------------------- degenerate inputs


def test_roc_auc_is_none_not_nan_for_one_class_and_compare_still_works():
    y = np.ones(50, dtype=int)
    p = np.linspace(0.1, 0.9, 50)
    assert ev.score(y, p, 0.5)["roc_auc"] is None
    assert ev.describe(y, p, 0.5)["roc_auc"] == ev.Interval(None, None, None)
    res = ev.compare(y, p, p[::-1].copy(), 0.5, resamples=200)
    assert res["roc_auc"] == ev.Comparison("roc_auc", *[ev.Interval(None, None, None)] * 3)
    assert res["accuracy"].candidate.value == pytest.approx(0.5)
    assert res["log_loss"].delta.value is not None


def _leaves(d):
    for v in d.values():
        if isinstance(v, dict):
            yield from _leaves(v)
        else:
            yield v


@pytest.mark.parametrize(
    ("y", "pc", "pp"),
    [
        ([1, 1, 1, 1], [0.2, 0.4, 0.6, 0.8], [0.5, 0.5, 0.5, 0.5]),  # one class
        ([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.5], [0.5, 0.5, 0.5, 0.5]),  # all predictions equal
        ([1], [0.7], [0.2]),  # n = 1
        ([0, 1], [0.0, 1.0], [1.0, 0.0]),  # 1 row per class, extreme probabilities
        ([0, 0, 1], [0.1, 0.2, 0.9], [0.3, 0.1, 0.6]),  # a single positive
    ],
)
def test_to_dict_is_json_finite_floats_or_none_for_degenerate_inputs(y, pc, pp):
    for prod in (pp, None):
        results = {
            "score": ev.score(y, pc, 0.5),
            "describe": ev.describe(y, pc, 0.5, resamples=50),
            "compare": ev.compare(y, pc, prod, 0.5, resamples=50),
            "slices": ev.compare_slices(y, pc, prod, ["a"] * len(y), 0.5, min_rows=1, resamples=50),
        }
        plain = ev.to_dict(results)
        json.dumps(plain, allow_nan=False)
        for leaf in _leaves(plain):
            assert leaf is None or (type(leaf) is float and math.isfinite(leaf))


def test_to_dict_shape_and_rounding():
    c = ev.Comparison(
        "f1",
        ev.Interval(0.123456789, 0.1, 0.2),
        ev.Interval(None, None, None),
        ev.Interval(-1e-9, float("nan"), float("inf")),
    )
    assert ev.to_dict(c) == {
        "candidate": 0.123457,
        "candidate_low": 0.1,
        "candidate_high": 0.2,
        "production": None,
        "production_low": None,
        "production_high": None,
        "delta": 0.0,
        "delta_low": None,
        "delta_high": None,
    }
    assert ev.to_dict(ev.Interval(1 / 3, None, 0.5)) == {
        "value": 0.333333,
        "low": None,
        "high": 0.5,
    }
    assert ev.to_dict({"x": None, 1: np.float64(2.5)}) == {"x": None, "1": 2.5}


# --------------------------------------------------------------------------- CI correctness


def test_multinomial_paired_bootstrap_ci_equals_brute_force_row_bootstrap(small_case):
    y, pc, pp, boot_c, boot_p = small_case
    res = ev.compare(y, pc, pp, 0.5, resamples=2000, seed=0)
    for name in THRESHOLD_METRICS:
        brute = {
            "candidate": boot_c[name],
            "production": boot_p[name],
            "delta": boot_c[name] - boot_p[name],
        }
        for side, draws in brute.items():
            lo, hi = np.quantile(draws, [0.025, 0.975])
            iv = getattr(res[name], side)
            assert iv.ci_low == pytest.approx(lo, abs=0.01), (name, side)
            assert iv.ci_high == pytest.approx(hi, abs=0.01), (name, side)
            assert iv.ci_low <= iv.value <= iv.ci_high


def test_multinomial_single_model_bootstrap_ci_equals_brute_force_row_bootstrap(small_case):
    y, pc, _, boot_c, _ = small_case
    res = ev.describe(y, pc, 0.5, resamples=2000, seed=1)
    for name in THRESHOLD_METRICS:
        lo, hi = np.quantile(boot_c[name], [0.025, 0.975])
        assert res[name].ci_low == pytest.approx(lo, abs=0.01), name
        assert res[name].ci_high == pytest.approx(hi, abs=0.01), name


def test_delong_paired_delta_variance_agrees_with_brute_force_bootstrap_within_15pct(small_case):
    y, pc, pp, boot_c, boot_p = small_case
    res = ev.compare(y, pc, pp, 0.5, resamples=10)
    z = stats.norm.ppf(0.975)
    for iv, draws in (
        (res["roc_auc"].delta, boot_c["roc_auc"] - boot_p["roc_auc"]),
        (res["roc_auc"].candidate, boot_c["roc_auc"]),
    ):
        delong_var = ((iv.ci_high - iv.ci_low) / (2 * z)) ** 2
        assert delong_var == pytest.approx(np.var(draws, ddof=1), rel=0.15)
    assert res["roc_auc"].delta.value == pytest.approx(
        skm.roc_auc_score(y, pc) - skm.roc_auc_score(y, pp), abs=1e-12
    )


MU_C, MU_P, BASE, SHIFT = 1.2, 1.0, 0.3, 0.5


def _true_f1(mu):
    tpr, fpr = stats.norm.cdf(mu - SHIFT), stats.norm.cdf(-SHIFT)
    return 2 * BASE * tpr / (BASE * tpr + BASE + (1 - BASE) * fpr)


def _true_log_loss(mu):
    def expect(f):
        return integrate.quad(lambda e: f(e) * stats.norm.pdf(e), -12, 12)[0]

    pos = expect(lambda e: np.logaddexp(0.0, -(mu + e - SHIFT)))  # -log(sigmoid(s))
    neg = expect(lambda e: np.logaddexp(0.0, e - SHIFT))  # -log(1 - sigmoid(s))
    return BASE * pos + (1 - BASE) * neg


@pytest.fixture(scope="module")
def coverage():
    """Share of 300 simulated datasets (n=1000) whose 95% delta CI covers the true delta."""
    truth = {
        "f1": _true_f1(MU_C) - _true_f1(MU_P),
        "roc_auc": stats.norm.cdf(MU_C / math.sqrt(2)) - stats.norm.cdf(MU_P / math.sqrt(2)),
        "log_loss": _true_log_loss(MU_C) - _true_log_loss(MU_P),
    }
    hits = dict.fromkeys(truth, 0)
    trials = 300
    for i in range(trials):
        y, pc, pp = _pair(1000, seed=1000 + i, mu_c=MU_C, mu_p=MU_P, base_rate=BASE, shift=SHIFT)
        res = ev.compare(y, pc, pp, 0.5, resamples=500, seed=i)
        for name, true in truth.items():
            d = res[name].delta
            hits[name] += d.ci_low <= true <= d.ci_high
    return {name: h / trials for name, h in hits.items()}


@pytest.mark.parametrize("metric", ["f1", "roc_auc", "log_loss"])
def test_95pct_delta_ci_covers_true_delta_in_90_to_99pct_of_trials(coverage, metric):
    assert 0.90 <= coverage[metric] <= 0.99, coverage


def test_true_log_loss_by_integration_matches_a_large_sample():
    y, pc, _ = _pair(400_000, seed=3, mu_c=MU_C, mu_p=MU_P, base_rate=BASE, shift=SHIFT)
    assert ev.score(y, pc, 0.5)["log_loss"] == pytest.approx(_true_log_loss(MU_C), abs=0.005)


def test_identical_models_give_delta_exactly_zero_with_zero_width_ci():
    y, pc, _ = _pair(3000, seed=4)
    res = ev.compare(y, pc, pc.copy(), 0.5, resamples=300)
    for name in (*THRESHOLD_METRICS, "log_loss", "brier", "roc_auc"):
        assert res[name].delta == ev.Interval(0.0, 0.0, 0.0), name
        assert res[name].candidate == res[name].production, name


def test_intervals_contain_point_and_respect_bounds():
    y, pc, pp = _pair(500, seed=8, mu_c=4.0, mu_p=0.0)  # near-perfect vs useless
    res = ev.compare(y, pc, pp, 0.5, resamples=500)
    for name, c in res.items():
        for iv in (c.candidate, c.production, c.delta):
            assert iv.ci_low <= iv.value <= iv.ci_high, name
    auc = res["roc_auc"]
    assert auc.candidate.ci_low >= 0.0 and auc.candidate.ci_high <= 1.0
    assert auc.delta.ci_low >= -1.0 and auc.delta.ci_high <= 1.0


# --------------------------------------------------------------------------- API behaviour


def test_same_seed_gives_identical_results_and_other_seed_differs():
    y, pc, pp = _pair(1500, seed=9)
    a = ev.compare(y, pc, pp, 0.5, resamples=300, seed=42)
    assert a == ev.compare(y, pc, pp, 0.5, resamples=300, seed=42)
    b = ev.compare(y, pc, pp, 0.5, resamples=300, seed=43)
    assert a["f1"].delta.ci_low != b["f1"].delta.ci_low
    assert a["roc_auc"] == b["roc_auc"]  # analytic: seed-free
    assert ev.describe(y, pc, 0.5, seed=5) == ev.describe(y, pc, 0.5, seed=5)


def test_compare_without_production_uses_describe_and_all_none_production_and_delta():
    y, pc, _ = _pair(800, seed=10)
    res = ev.compare(y, pc, None, 0.5, resamples=200, seed=3)
    desc = ev.describe(y, pc, 0.5, resamples=200, seed=3)
    assert list(res) == list(ev.METRICS)
    for name, c in res.items():
        assert c.metric == name
        assert c.candidate == desc[name]
        assert c.production == c.delta == ev.Interval(None, None, None)


def test_compare_slices_keys_sorted_small_slices_none_and_equal_to_compare_on_subset():
    y, pc, pp = _pair(1000, seed=12)
    rng = np.random.default_rng(0)
    slices = rng.choice(
        np.array(["LGA", "JFK", "EWR", "tiny"]), p=[0.4, 0.3, 0.29, 0.01], size=1000
    )
    res = ev.compare_slices(y, pc, pp, slices, 0.5, min_rows=50, resamples=200, seed=1)
    assert list(res) == ["EWR", "JFK", "LGA", "tiny"]
    assert res["tiny"] is None
    rows = slices == "JFK"
    assert res["JFK"] == ev.compare(y[rows], pc[rows], pp[rows], 0.5, resamples=200, seed=1)

    numeric = ev.compare_slices(y, pc, None, np.arange(1000) % 3, 0.5, min_rows=1, resamples=50)
    assert list(numeric) == ["0", "1", "2"]
    assert numeric["0"]["f1"].delta == ev.Interval(None, None, None)
    mixed = ev.compare_slices(y, pc, pp, np.array([1, "1"] * 500, dtype=object), 0.5, min_rows=1)
    assert list(mixed) == ["1"]  # values with the same str() form one slice
