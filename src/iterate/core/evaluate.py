"""Binary-classification metrics and paired candidate-vs-production comparisons with CIs.

Every confidence interval is exact-equivalent to (or the standard analytic counterpart of) a
row bootstrap, but computed without resampling rows:

- accuracy, precision, recall, f1 depend on the rows only through confusion counts, so a row
  bootstrap is exactly a multinomial draw over the joint cells (label, candidate's label,
  production's label): 8 cells paired, 4 cells for one model. Percentile interval.
- roc_auc: DeLong's method with midranks (fast DeLong, Sun & Xu 2014); the paired delta's
  variance comes from the 2x2 covariance of the two models' structural components. Normal
  interval, clipped to [0, 1] (single AUC) or [-1, 1] (delta).
- log_loss, brier: mean of per-row losses (paired differences for the delta), normal interval
  mean +- z * sd / sqrt(n) with ddof=1.

Positive class is 1; predicted label is ``proba >= threshold``. Only numpy is imported.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Any

import numpy as np

from iterate.core.metrics import METRICS

if TYPE_CHECKING:  # annotations only
    from iterate.params import Evaluate as EvaluateParams

THRESHOLD_METRICS: tuple[str, ...] = ("accuracy", "precision", "recall", "f1")
LOSS_METRICS: tuple[str, ...] = ("log_loss", "brier")
LOG_LOSS_EPS = 1e-15


@dataclass(frozen=True)
class Interval:
    """A point estimate with its confidence interval; any field may be None (undefined)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None


NO_INTERVAL = Interval(None, None, None)


@dataclass(frozen=True)
class Comparison:
    """One metric of candidate and production on the same rows; ``delta`` = candidate - prod."""

    metric: str
    candidate: Interval
    production: Interval
    delta: Interval


# --------------------------------------------------------------------------- input checks


def _labels(y_true: Any) -> np.ndarray:
    y = np.asarray(y_true)
    if y.ndim != 1 or y.size == 0:
        raise ValueError(f"y_true must be a non-empty 1-d array, got shape {y.shape}")
    if y.dtype == bool:
        return y
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("y_true must contain only 0 and 1")
    return y == 1


def _proba(proba: Any, n: int, name: str) -> np.ndarray:
    p = np.asarray(proba, dtype=np.float64)
    if p.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},) like y_true, got {p.shape}")
    if not np.all((p >= 0.0) & (p <= 1.0)):
        raise ValueError(f"{name} must be probabilities in [0, 1] (no NaN)")
    return p


def cuts(threshold: float | tuple[float, float]) -> tuple[float, float]:
    """``(candidate's, production's)`` threshold: each model is cut at its own when they differ
    (a threshold chosen on each one's training window), at one number otherwise."""
    return (float(threshold[0]), float(threshold[1])) if isinstance(threshold, tuple) else \
        (float(threshold), float(threshold))


def _check_options(threshold: float, confidence: float, resamples: int) -> None:
    if not math.isfinite(threshold):
        raise ValueError(f"threshold must be finite, got {threshold}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    if int(resamples) < 1:
        raise ValueError(f"resamples must be >= 1, got {resamples}")


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


def _num(x: Any) -> float | None:
    """A finite Python float, or None."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _interval(value: Any, low: Any, high: Any) -> Interval:
    return Interval(_num(value), _num(low), _num(high))


# --------------------------------------------------------------------------- threshold metrics


def _from_counts(tp: Any, fp: Any, fn: Any, tn: Any) -> dict[str, np.ndarray]:
    """Threshold metrics from confusion counts (arrays broadcast), zero_division=0."""
    tp, fp, fn, tn = (np.asarray(c, dtype=np.float64) for c in (tp, fp, fn, tn))

    def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
        num, den = np.broadcast_arrays(num, den)
        return np.divide(num, den, out=np.zeros(num.shape), where=den > 0)

    return {
        "accuracy": ratio(tp + tn, tp + fp + fn + tn),
        "precision": ratio(tp, tp + fp),
        "recall": ratio(tp, tp + fn),
        "f1": ratio(2.0 * tp, 2.0 * tp + fp + fn),
    }


def _single_counts(c: np.ndarray) -> dict[str, np.ndarray]:
    """Metrics from 4-cell counts, cell = 2 * label + predicted (last axis)."""
    return _from_counts(c[..., 3], c[..., 1], c[..., 2], c[..., 0])


def _paired_counts(c: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(candidate, production) metrics from 8-cell counts, cell = 4*label + 2*cand + prod."""
    cand = _from_counts(
        c[..., 6] + c[..., 7], c[..., 2] + c[..., 3], c[..., 4] + c[..., 5], c[..., 0] + c[..., 1]
    )
    prod = _from_counts(
        c[..., 5] + c[..., 7], c[..., 1] + c[..., 3], c[..., 4] + c[..., 6], c[..., 0] + c[..., 2]
    )
    return cand, prod


def _percentile(draws: np.ndarray, confidence: float) -> tuple[float, float]:
    alpha = 1.0 - confidence
    lo, hi = np.quantile(draws, [alpha / 2.0, 1.0 - alpha / 2.0])
    return float(lo), float(hi)


def _multinomial(counts: np.ndarray, resamples: int, seed: int | None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(counts.sum())
    return rng.multinomial(n, counts / n, size=int(resamples))


# --------------------------------------------------------------------------- ROC AUC (DeLong)


def _midranks_sorted(s: np.ndarray) -> np.ndarray:
    """1-based midranks of an already sorted 1-d array (ties share their average rank)."""
    n = s.size
    if n == 0:
        return np.empty(0)
    new = np.empty(n, dtype=bool)
    new[0] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], n)
    return np.repeat((starts + ends + 1) / 2.0, ends - starts)


def _midranks(a: Any) -> np.ndarray:
    """Midranks of a 1-d array, like ``scipy.stats.rankdata(a, method="average")``."""
    a = np.asarray(a, dtype=np.float64)
    order = np.argsort(a, kind="stable")
    ranks = np.empty(a.size)
    ranks[order] = _midranks_sorted(a[order])
    return ranks


def _structural(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    """DeLong structural components in row order (one sort, O(n log n)).

    For a positive row: the share of negatives it outranks (ties count 1/2), V10.
    For a negative row: the share of positives that outrank it (ties count 1/2), V01.
    Both average to the AUC. Requires both classes present.
    """
    order = np.argsort(p, kind="stable")
    s, yo = p[order], y[order]
    m = int(yo.sum())
    k = yo.size - m
    tz = _midranks_sorted(s)
    comp = np.empty(yo.size)
    comp[yo] = (tz[yo] - _midranks_sorted(s[yo])) / k
    comp[~yo] = 1.0 - (tz[~yo] - _midranks_sorted(s[~yo])) / m
    out = np.empty(yo.size)
    out[order] = comp
    return out


def _auc_point(y: np.ndarray, p: np.ndarray) -> float | None:
    m = int(y.sum())
    if m == 0 or m == y.size:
        return None
    return float(_structural(y, p)[y].mean())


def _var_of_mean(x: np.ndarray) -> float:
    """Variance of the mean of x (ddof=1); NaN when fewer than 2 values."""
    if x.size < 2:
        return math.nan
    return float(np.var(x, ddof=1)) / x.size


def _normal(value: float, var: float, z: float, lo: float, hi: float) -> Interval:
    if not math.isfinite(var):
        return _interval(value, None, None)
    half = z * math.sqrt(max(var, 0.0))
    return _interval(value, max(lo, value - half), min(hi, value + half))


def _auc_intervals(
    y: np.ndarray, probas: list[np.ndarray], z: float
) -> tuple[list[Interval], Interval]:
    """AUC Interval of each model and (for two) the DeLong Interval of probas[0] - probas[1].

    The delta's variance is l' S l with l = (1, -1) and S the 2x2 DeLong covariance
    S = cov(V10) / m + cov(V01) / n, computed as var(V10_a - V10_b) / m + var(V01_a - V01_b) / n
    (the same quantity, exactly 0 for identical models).
    """
    m = int(y.sum())
    if m == 0 or m == y.size:
        return [NO_INTERVAL for _ in probas], NO_INTERVAL
    comps = [_structural(y, p) for p in probas]
    singles = []
    for c in comps:
        auc = float(c[y].mean())
        var = _var_of_mean(c[y]) + _var_of_mean(c[~y])
        singles.append(_normal(auc, var, z, 0.0, 1.0))
    if len(comps) < 2:
        return singles, NO_INTERVAL
    d = comps[0] - comps[1]
    delta = float(comps[0][y].mean() - comps[1][y].mean())
    var = _var_of_mean(d[y]) + _var_of_mean(d[~y])
    return singles, _normal(delta, var, z, -1.0, 1.0)


# --------------------------------------------------------------------------- losses


def _row_losses(y: np.ndarray, p: np.ndarray) -> dict[str, np.ndarray]:
    clipped = np.clip(p, LOG_LOSS_EPS, 1.0 - LOG_LOSS_EPS)
    log_loss = -np.log(np.where(y, clipped, 1.0 - clipped))
    return {"log_loss": log_loss, "brier": (p - y) ** 2}


def _mean_interval(x: np.ndarray, z: float) -> Interval:
    mean = float(x.mean())
    return _normal(mean, _var_of_mean(x), z, -math.inf, math.inf)


# --------------------------------------------------------------------------- public API


def score(y_true: Any, proba: Any, threshold: float) -> dict[str, float | None]:
    """Point values of every metric (label = proba >= threshold).

    Parameters
    ----------
    y_true : array of 0/1 (or bool), shape (n,)
    proba : array of probabilities of class 1, shape (n,)
    threshold : float

    Returns
    -------
    dict
        ``{metric: value}`` in ``METRICS`` order; roc_auc is None when y has one class.
    """
    _check_options(threshold, 0.95, 1)
    y = _labels(y_true)
    p = _proba(proba, y.size, "proba")
    counts = np.bincount(2 * y + (p >= threshold), minlength=4)
    out: dict[str, float | None] = {k: float(v) for k, v in _single_counts(counts).items()}
    out["roc_auc"] = _auc_point(y, p)
    out.update({k: float(v.mean()) for k, v in _row_losses(y, p).items()})
    return {k: out[k] for k in METRICS}


def describe(
    y_true: Any,
    proba: Any,
    threshold: float,
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int | None = 0,
) -> dict[str, Interval]:
    """Every metric of ONE model with its CI (used when there is no production model yet).

    Parameters
    ----------
    y_true, proba, threshold
        As in :func:`score`.
    confidence : float
        Two-sided coverage of each interval.
    resamples : int
        Multinomial bootstrap draws for the threshold metrics.
    seed : int or None
        Seed of ``np.random.default_rng``; the same seed gives the same result.

    Returns
    -------
    dict
        ``{metric: Interval}`` in ``METRICS`` order. Values are the observed metrics; a CI end
        is None when it cannot be estimated (roc_auc with one class, or < 2 rows of a class;
        losses with n = 1).
    """
    _check_options(threshold, confidence, resamples)
    y = _labels(y_true)
    p = _proba(proba, y.size, "proba")
    z = _z(confidence)
    counts = np.bincount(2 * y + (p >= threshold), minlength=4)
    point = _single_counts(counts)
    draws = _single_counts(_multinomial(counts, resamples, seed))
    out = {k: _interval(point[k], *_percentile(draws[k], confidence)) for k in THRESHOLD_METRICS}
    (out["roc_auc"],), _ = _auc_intervals(y, [p], z)
    out.update({k: _mean_interval(v, z) for k, v in _row_losses(y, p).items()})
    return {k: out[k] for k in METRICS}


def compare(
    y_true: Any,
    proba_candidate: Any,
    proba_production: Any | None,
    threshold: float | tuple[float, float],
    *,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int | None = 0,
) -> dict[str, Comparison]:
    """Every metric of both models on the same rows, with the paired CI of each delta.

    Parameters
    ----------
    y_true, threshold, confidence, resamples, seed
        As in :func:`describe`; ``threshold`` may be a pair, each model's own (:func:`cuts`).
    proba_candidate, proba_production : array, shape (n,)
        Probabilities of class 1 from each model on the same rows. ``proba_production=None``
        (no production model yet) gives the candidate's :func:`describe` Intervals and
        all-None production and delta Intervals.

    Returns
    -------
    dict
        ``{metric: Comparison}`` in ``METRICS`` order; ``delta`` is candidate - production
        (for log_loss and brier a negative delta is an improvement, see ``HIGHER_IS_BETTER``).
    """
    cut_c, cut_p = cuts(threshold)
    if proba_production is None:
        return {
            k: Comparison(k, iv, NO_INTERVAL, NO_INTERVAL)
            for k, iv in describe(
                y_true,
                proba_candidate,
                cut_c,
                confidence=confidence,
                resamples=resamples,
                seed=seed,
            ).items()
        }
    _check_options(cut_c, confidence, resamples)
    _check_options(cut_p, confidence, resamples)
    y = _labels(y_true)
    pc = _proba(proba_candidate, y.size, "proba_candidate")
    pp = _proba(proba_production, y.size, "proba_production")
    z = _z(confidence)
    out: dict[str, Comparison] = {}

    cells = 4 * y + 2 * (pc >= cut_c) + (pp >= cut_p)
    counts = np.bincount(cells, minlength=8)
    point_c, point_p = _paired_counts(counts)
    draws_c, draws_p = _paired_counts(_multinomial(counts, resamples, seed))
    for k in THRESHOLD_METRICS:
        out[k] = Comparison(
            k,
            _interval(point_c[k], *_percentile(draws_c[k], confidence)),
            _interval(point_p[k], *_percentile(draws_p[k], confidence)),
            _interval(point_c[k] - point_p[k], *_percentile(draws_c[k] - draws_p[k], confidence)),
        )

    (auc_c, auc_p), auc_d = _auc_intervals(y, [pc, pp], z)
    out["roc_auc"] = Comparison("roc_auc", auc_c, auc_p, auc_d)

    loss_c, loss_p = _row_losses(y, pc), _row_losses(y, pp)
    for k in LOSS_METRICS:
        out[k] = Comparison(
            k,
            _mean_interval(loss_c[k], z),
            _mean_interval(loss_p[k], z),
            _mean_interval(loss_c[k] - loss_p[k], z),
        )
    return {k: out[k] for k in METRICS}


def compare_slices(
    y_true: Any,
    proba_candidate: Any,
    proba_production: Any | None,
    slice_values: Any,
    threshold: float | tuple[float, float],
    *,
    min_rows: int = 100,
    confidence: float = 0.95,
    resamples: int = 1000,
    seed: int | None = 0,
) -> dict[str, dict[str, Comparison] | None]:
    """:func:`compare` per distinct value of ``slice_values``.

    Parameters
    ----------
    slice_values : array, shape (n,)
        The slice of each row (e.g. a category column). Values with the same ``str()`` form
        one slice.
    min_rows : int
        A slice with fewer rows maps to None (too few rows to judge).
    Others
        As in :func:`compare`; every slice uses the same ``seed``.

    Returns
    -------
    dict
        ``{str(value): {metric: Comparison} or None}`` with keys sorted.
    """
    y = np.asarray(y_true)
    pc = np.asarray(proba_candidate)
    pp = None if proba_production is None else np.asarray(proba_production)
    values = np.asarray(slice_values)
    if values.shape != y.shape:
        raise ValueError(f"slice_values must have shape {y.shape} like y_true, got {values.shape}")
    if values.dtype == object:
        values = values.astype(str)
    uniques, inverse = np.unique(values, return_inverse=True)
    groups: dict[str, list[int]] = {}
    for code, u in enumerate(uniques):
        groups.setdefault(str(u), []).append(code)
    out: dict[str, dict[str, Comparison] | None] = {}
    for key in sorted(groups):
        rows = np.isin(inverse, groups[key])
        if int(rows.sum()) < min_rows:
            out[key] = None
            continue
        out[key] = compare(
            y[rows],
            pc[rows],
            None if pp is None else pp[rows],
            threshold,
            confidence=confidence,
            resamples=resamples,
            seed=seed,
        )
    return out


def _round(x: float | None) -> float | None:
    x = _num(x)
    return None if x is None else round(x, 6) + 0.0  # + 0.0 turns -0.0 into 0.0


def to_dict(obj: Any) -> Any:
    """Plain, JSON-safe form of results: floats rounded to 6 decimals, None kept, never NaN/inf.

    Shapes (every leaf a number or null, so ``dvc metrics diff`` can diff each one)::

        Interval   -> {"value": v, "low": lo, "high": hi}
        Comparison -> {"candidate": v, "candidate_low": lo, "candidate_high": hi,
                       "production": v, "production_low": lo, "production_high": hi,
                       "delta": v, "delta_low": lo, "delta_high": hi}
        Mapping    -> {str(key): to_dict(value)}   (results of score/describe/compare/slices)
        None       -> None;  a number -> rounded float or None if not finite

    Parameters
    ----------
    obj : Interval, Comparison, Mapping, number or None

    Returns
    -------
    dict, float or None
    """
    if obj is None:
        return None
    if isinstance(obj, Interval):
        return {"value": _round(obj.value), "low": _round(obj.ci_low), "high": _round(obj.ci_high)}
    if isinstance(obj, Comparison):
        out: dict[str, float | None] = {}
        for side in ("candidate", "production", "delta"):
            iv = getattr(obj, side)
            out[side] = _round(iv.value)
            out[f"{side}_low"] = _round(iv.ci_low)
            out[f"{side}_high"] = _round(iv.ci_high)
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (int, float, np.integer, np.floating)) and not isinstance(obj, bool):
        return _round(obj)
    raise TypeError(f"to_dict: cannot convert {type(obj).__name__}")


def candidate_vs_production(y_true: Any, candidate: Any, production: Any,
                            threshold: float | tuple[float, float], options: EvaluateParams,
                            slice_values: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The candidate against production on the same rows, as the gate reads it.

    Parameters
    ----------
    y_true, candidate, production, threshold
        As :func:`compare` (``production`` may be None).
    options : iterate.params.Evaluate
        The CI's confidence, resamples and seed; the slices' column and fewest rows.
    slice_values : array of str, optional
        Each row's value of ``options.slice_column``; without it, no slices.

    Returns
    -------
    tuple
        ``(metrics, slices)``: :func:`to_dict` of :func:`compare`, and
        ``{"column", "min_rows", "values"}`` with :func:`to_dict` of :func:`compare_slices`.
    """
    ci = {"confidence": options.confidence, "resamples": options.resamples, "seed": options.seed}
    metrics = to_dict(compare(y_true, candidate, production, threshold, **ci))
    values = {} if slice_values is None else to_dict(compare_slices(
        y_true, candidate, production, slice_values, threshold,
        min_rows=options.min_slice_rows, **ci))
    return metrics, {"column": options.slice_column, "min_rows": options.min_slice_rows,
                     "values": values}


def paired_improvement(y_true: Any, proba_candidate: Any, proba_production: Any,
                       metric: str) -> tuple[float, float, int] | None:
    """The candidate's improvement over production on one holdout, with its variance.

    ``(improvement, variance, rows)``: for roc_auc the DeLong paired delta and its variance
    (as :func:`compare`), for log_loss and brier minus the mean paired loss difference (a lower
    loss is an improvement) and the variance of that mean. None when it cannot be estimated
    (one class for roc_auc, fewer than 2 rows).
    """
    y = _labels(y_true)
    pc = _proba(proba_candidate, y.size, "proba_candidate")
    pp = _proba(proba_production, y.size, "proba_production")
    if metric == "roc_auc":
        m = int(y.sum())
        if m < 2 or y.size - m < 2:
            return None
        d = _structural(y, pc) - _structural(y, pp)
        return float(d[y].mean()), _var_of_mean(d[y]) + _var_of_mean(d[~y]), int(y.size)
    if metric not in LOSS_METRICS:
        raise ValueError(f"paired_improvement: {metric!r} has no analytic variance; use roc_auc, "
                         "log_loss or brier")
    if y.size < 2:
        return None
    d = _row_losses(y, pp)[metric] - _row_losses(y, pc)[metric]
    return float(d.mean()), _var_of_mean(d), int(y.size)
