"""Production's performance on rows whose labels have not arrived: confidence-based
performance estimation (CBPE, as NannyML's).

The model's scores are calibrated on labelled rows it did not train on (the holdout it was
judged on): Platt scaling of the score's log-odds, score -> probability of the positive class.
(NannyML fits an isotonic map; on drifted traffic, whose scores sit where the holdout is
sparse, its steps made the ROC AUC interval cover the realised value in 60% of generated cases
at 90% nominal, tests/test_estimate.py; two parameters extrapolate stably.) If that calibration
holds on the traffic (no concept drift: the chance of a positive at a given score has not
changed; covariate drift is allowed), each unlabelled row is a positive with its calibrated
probability, and the expected confusion matrix and ROC AUC follow:

* the expected counts TP = sum of p over the rows predicted positive (score >= threshold),
  FP = sum of 1 - p over them, FN and TN likewise over the rows predicted negative; accuracy,
  precision, recall and F1 are these expected counts' ratios (as NannyML computes them);
* ROC AUC: the expected number of correctly ordered (positive, negative) pairs of distinct rows
  (ties count a half) over the expected number of such pairs.

The interval covers the metric's *realised* value on these rows, once their labels are known:
each of ``resamples`` draws refits the calibration on a bootstrap resample of the reference
(its uncertainty) and draws every row's label from that calibration (the labels' own chance),
and the interval is the draws' percentiles. It does not cover a change of the score-to-outcome
relation itself (concept drift), which no label-free estimate can see.

Rows are handled grouped by distinct score (the log rounds scores to 6 decimals), so a draw
costs one binomial per distinct score, not one per row.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

METRICS = ("roc_auc", "accuracy", "precision", "recall", "f1")
DRAWS_AT_ONCE = 25  # memory: this many draws x distinct scores, at a time


@dataclass(frozen=True)
class Calibration:
    """The calibration fitted on the whole reference, and one per bootstrap resample of it."""

    point: Any
    draws: list[Any]
    reference_rows: int


@dataclass(frozen=True)
class Grouped:
    """Rows grouped by distinct score: ascending ``scores`` and each one's row ``counts``."""

    scores: np.ndarray
    counts: np.ndarray

    @classmethod
    def of(cls, scores: Any) -> Grouped:
        values, counts = np.unique(np.asarray(scores, dtype="float64"), return_counts=True)
        return cls(values, counts)


@dataclass(frozen=True)
class Curve:
    """The calibration: probability = sigmoid(slope * logit(score) + intercept) (Platt scaling
    of the score's log-odds, fitted by maximum likelihood)."""

    slope: float
    intercept: float

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return 1 / (1 + np.exp(-(self.slope * _logit(scores) + self.intercept)))


def _logit(scores: np.ndarray) -> np.ndarray:
    s = np.clip(np.asarray(scores, dtype="float64"), 1e-6, 1 - 1e-6)  # the log's rounding
    return np.log(s / (1 - s))


def _platt(scores: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None) -> Curve:
    """Newton's method on the weighted log-likelihood (a tiny ridge keeps it finite when the
    labels are separable or all one class)."""
    x = np.column_stack([_logit(scores), np.ones(len(scores))])
    w = np.ones(len(scores)) if weights is None else weights
    beta = np.array([1.0, 0.0])
    for _ in range(50):
        p = 1 / (1 + np.exp(-(x @ beta)))
        gradient = x.T @ (w * (labels - p)) - 1e-6 * beta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x + 1e-6 * np.eye(2)
        step = np.linalg.solve(hessian, gradient)
        beta = beta + step
        if np.abs(step).max() < 1e-10:
            break
    return Curve(slope=float(beta[0]), intercept=float(beta[1]))


def calibrate(scores: Any, labels: Any, resamples: int, seed: int) -> Calibration:
    """Fit the calibration on labelled reference rows (scores of a model that did not train on
    them), and ``resamples`` refits on bootstrap resamples of them."""
    scores = np.asarray(scores, dtype="float64")
    labels = np.asarray(labels, dtype="float64")
    if len(scores) != len(labels) or len(scores) == 0:
        raise ValueError(f"calibration needs one label per score, got {len(scores)} scores "
                         f"and {len(labels)} labels")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("calibration labels must be 0 or 1")
    rng = np.random.default_rng(seed)
    n = len(scores)
    draws = [_platt(scores, labels, rng.multinomial(n, np.full(n, 1 / n)).astype("float64"))
             for _ in range(resamples)]
    return Calibration(point=_platt(scores, labels), draws=draws, reference_rows=n)


def expected(grouped: Grouped, probability: np.ndarray,
             threshold: float) -> dict[str, float | None]:
    """Each metric's expected value when every row of ``grouped`` is a positive with its
    group's ``probability`` (the calibrated score)."""
    c, p = grouped.counts.astype("float64"), np.asarray(probability, dtype="float64")
    predicted = grouped.scores >= threshold
    tp, fp = np.sum((c * p)[predicted]), np.sum((c * (1 - p))[predicted])
    fn, tn = np.sum((c * p)[~predicted]), np.sum((c * (1 - p))[~predicted])
    negatives = c * (1 - p)
    below = np.cumsum(negatives) - negatives  # expected negatives of lower scores
    pairs = (tp + fn) * (fp + tn) - np.sum(c * p * (1 - p))  # of distinct rows
    ordered = np.sum(c * p * below) + 0.5 * np.sum((c * c - c) * p * (1 - p))
    return {"roc_auc": _ratio(ordered, pairs), **_from_counts(tp, fp, fn, tn)}


def realised(grouped: Grouped, positives: np.ndarray, threshold: float) -> dict[str, Any]:
    """Each metric of the rows of ``grouped`` when ``positives[..., g]`` of group g's rows are
    labelled positive (a leading axis holds several draws: each metric is then an array)."""
    k = np.asarray(positives, dtype="float64")
    c = grouped.counts.astype("float64")
    predicted = grouped.scores >= threshold
    tp, fp = k[..., predicted].sum(-1), (c - k)[..., predicted].sum(-1)
    fn, tn = k[..., ~predicted].sum(-1), (c - k)[..., ~predicted].sum(-1)
    negatives = c - k
    below = np.cumsum(negatives, axis=-1) - negatives
    ordered = (k * below).sum(-1) + 0.5 * (k * negatives).sum(-1)
    return {"roc_auc": _ratio(ordered, (tp + fn) * (fp + tn)), **_from_counts(tp, fp, fn, tn)}


def estimate(calibration: Calibration, scores: Any, threshold: float, confidence: float,
             seed: int) -> dict[str, dict[str, float | None]]:
    """Each metric's estimate on the unlabelled rows ``scores``, with the interval (at
    ``confidence``) that covers its realised value (see the module's docstring)."""
    grouped = Grouped.of(scores)
    point = expected(grouped, calibration.point.predict(grouped.scores), threshold)
    rng = np.random.default_rng(seed)
    drawn: dict[str, list[np.ndarray]] = {m: [] for m in METRICS}
    for start in range(0, len(calibration.draws), DRAWS_AT_ONCE):
        block = calibration.draws[start:start + DRAWS_AT_ONCE]
        probability = np.stack([d.predict(grouped.scores) for d in block])
        for metric, values in realised(grouped, rng.binomial(grouped.counts, probability),
                                       threshold).items():
            drawn[metric].append(values)
    tail = (1 - confidence) / 2 * 100
    out = {}
    for metric in METRICS:
        values = np.concatenate(drawn[metric])
        values = values[np.isfinite(values)]
        low, high = (np.percentile(values, [tail, 100 - tail]) if len(values) else (None, None))
        out[metric] = {"value": _round(point[metric]), "low": _round(low), "high": _round(high)}
    return out


def _from_counts(tp, fp, fn, tn) -> dict[str, Any]:
    return {"accuracy": _ratio(tp + tn, tp + fp + fn + tn), "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn), "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def _ratio(num, den):
    """``num / den``; NaN (an array) or None (a number) where ``den`` is 0."""
    num, den = np.asarray(num, dtype="float64"), np.asarray(den, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)
    if out.ndim == 0:
        return None if np.isnan(out) else float(out)
    return out


def _round(x) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), 6)
