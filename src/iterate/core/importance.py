"""Permutation importance of each feature, paired between two models.

The importance of a feature is how much worse the model's metric gets when that feature's
values are shuffled among the rows (the link between the feature and the label is broken, its
distribution kept). Both models are scored on the *same* row sample of the holdout with the
*same* permutations, derived from a seed and the holdout's size, so the difference of their
importances is paired row by row.

Two halves, for the two kinds of stage:

- :func:`shuffled_scores` (where a model is loaded: drift for the baseline, train for the
  candidate) scores the sample with each feature shuffled, ``repeats`` times;
- :func:`compare` (the evaluate stage, numpy only) turns both models' scores into each
  feature's importance with its CI, and the paired Δ with its CI.

Each row's share of the metric's drop is averaged over the repeats; the CI is the normal
interval of the mean of these per-row drops (rows as the unit, as for the holdout's losses):
for ROC AUC the drop of each row's DeLong structural component, for the losses the increase of
its loss. The repeats' own drops are kept for their spread.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from iterate.core import evaluate

if TYPE_CHECKING:  # annotations only
    from iterate.params import Explain


CHUNK_ROWS = 250_000  # rows per predict call: one call for the defaults (each call has a cost
# per tree of a boosted model, whatever its rows), a bounded frame for big samples


def sample_rows(holdout_rows: int, options: Explain) -> np.ndarray:
    """The holdout rows both models are scored on (sorted): all of them when there are no more
    than ``options.rows``, else a sample drawn from the seed and the holdout's size."""
    if holdout_rows <= options.rows:
        return np.arange(holdout_rows)
    rng = np.random.default_rng([options.seed, holdout_rows])
    return np.sort(rng.choice(holdout_rows, size=options.rows, replace=False))


def permutation(feature: str, repeat: int, rows: int, seed: int) -> np.ndarray:
    """The order feature ``feature``'s values take in repeat ``repeat``: from the seed and the
    feature's name (not its position), so two models with other feature lists still agree."""
    rng = np.random.default_rng([seed, zlib.crc32(feature.encode("utf-8")), repeat, rows])
    return rng.permutation(rows)


def shuffled_scores(predict: Callable[[Any], np.ndarray], frame: Any, features: list[str],
                    options: Explain) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Score the sample of ``frame`` (a DataFrame of the holdout) with each feature shuffled.

    Parameters
    ----------
    predict : callable
        The model's probability of class 1 for each row of a DataFrame.
    frame : pandas.DataFrame
        The holdout, in its order.
    features : list of str
        The model's input features.
    options : iterate.params.Explain
        Sample size, repeats and seed.

    Returns
    -------
    tuple
        ``(rows, scores)``: the sampled holdout rows, and per feature an array of shape
        ``(repeats, len(rows))``, repeat ``r`` scored with :func:`permutation` ``r``.
    """
    rows = sample_rows(len(frame), options)
    n, repeats = len(rows), options.repeats
    per_feature = max(1, CHUNK_ROWS // (n * repeats))
    scores = {}
    for first in range(0, len(features), per_feature):
        chunk = features[first:first + per_feature]
        sample = np.tile(rows, repeats * len(chunk))  # the sample, once per repeat and feature
        block = frame.iloc[sample].reset_index(drop=True)
        for k, feature in enumerate(chunk):
            order = sample.copy()
            for r in range(repeats):
                start = (k * repeats + r) * n
                order[start:start + n] = rows[permutation(feature, r, n, options.seed)]
            block[feature] = frame[feature].iloc[order].reset_index(drop=True)
        proba = np.asarray(predict(block), dtype="float64").reshape(len(chunk), repeats, n)
        scores.update(zip(chunk, proba, strict=True))
    return rows, scores


def compare(y: Any, candidate: tuple[np.ndarray, dict[str, np.ndarray]],
            production: tuple[np.ndarray, dict[str, np.ndarray]] | None, metric: str,
            confidence: float) -> dict[str, dict[str, Any]]:
    """Each feature's importance for both models and the paired Δ (candidate − production).

    Parameters
    ----------
    y : array of 0/1, shape (len(rows),)
        The label of each sampled row.
    candidate, production : tuple
        ``(base, shuffled)`` of each model: its scores of the sampled rows as they are, and
        :func:`shuffled_scores`' per-feature arrays; ``production`` None when there is none.
    metric : {"roc_auc", "log_loss", "brier"}
        Importance = how much the metric worsens (AUC lost, loss gained).
    confidence : float
        Two-sided coverage of each interval.

    Returns
    -------
    dict
        Per feature (of either model, sorted), :func:`iterate.core.evaluate.to_dict` of a
        Comparison (``candidate``, ``production``, ``delta`` with ``_low``/``_high``; None where
        a model lacks the feature), and ``repeats``: each model's drop per repeat.
    """
    y = np.asarray(y) == 1
    z = evaluate._z(confidence)
    models = {"candidate": candidate, "production": production}
    drops = {name: _row_drops(y, *model, metric) for name, model in models.items()
             if model is not None}
    out = {}
    for feature in sorted(set().union(*(d.keys() for d in drops.values()))):
        c, p = (drops.get(name, {}).get(feature) for name in ("candidate", "production"))
        comparison = evaluate.Comparison(
            metric, _interval(y, c and c[0], metric, z), _interval(y, p and p[0], metric, z),
            _interval(y, c[0] - p[0], metric, z) if c and p else evaluate.NO_INTERVAL)
        out[feature] = {**evaluate.to_dict(comparison),
                        "repeats": {name: [evaluate._round(v) for v in drop[1]] if drop else None
                                    for name, drop in (("candidate", c), ("production", p))}}
    return out


def _row_drops(y: np.ndarray, base: np.ndarray, shuffled: dict[str, np.ndarray],
               metric: str) -> dict[str, tuple[np.ndarray, np.ndarray] | None]:
    """Per feature: each row's drop averaged over the repeats, and each repeat's drop (None
    when the metric is undefined on the sample: one class only)."""
    if metric == "roc_auc" and (y.all() or not y.any()):
        return dict.fromkeys(shuffled)
    base_parts = _parts(y, base, metric)
    out = {}
    for feature, scores in shuffled.items():
        parts = np.stack([_parts(y, s, metric) for s in scores])
        drop = base_parts - parts if metric == "roc_auc" else parts - base_parts
        out[feature] = (drop.mean(axis=0), [_value(y, d, metric) for d in drop])
    return out


def _parts(y: np.ndarray, proba: np.ndarray, metric: str) -> np.ndarray:
    """Each row's part of the metric: its DeLong structural component for ROC AUC (the mean
    over the positive rows, or over the negative ones, is the AUC), else its loss."""
    if metric == "roc_auc":
        return evaluate._structural(y, np.asarray(proba, dtype="float64"))
    return evaluate._row_losses(y, np.asarray(proba, dtype="float64"))[metric]


def _value(y: np.ndarray, drop: np.ndarray, metric: str) -> float:
    return float(drop[y].mean() if metric == "roc_auc" else drop.mean())


def _interval(y: np.ndarray, drop: np.ndarray | None, metric: str,
              z: float) -> evaluate.Interval:
    """The mean drop with its normal CI (DeLong's two-sample variance for ROC AUC)."""
    if drop is None:
        return evaluate.NO_INTERVAL
    if metric == "roc_auc":
        var = evaluate._var_of_mean(drop[y]) + evaluate._var_of_mean(drop[~y])
    else:
        var = evaluate._var_of_mean(drop)
    return evaluate._normal(_value(y, drop, metric), var, z, -math.inf, math.inf)


def paired(y: Any, probas: dict[str, np.ndarray | None],
           shuffled: dict[str, tuple[np.ndarray, dict[str, np.ndarray]] | None],
           options: Explain, confidence: float) -> dict[str, Any] | None:
    """The importance block of the evaluation: :func:`compare` on the sampled rows, each
    feature's reading and the features that moved (:mod:`iterate.core.explain`). None when the
    candidate's shuffled scores are missing; ValueError when the two models were not scored on
    the same rows (the difference would not be paired)."""
    from iterate.core import explain

    candidate, production = shuffled.get("candidate"), shuffled.get("production")
    if candidate is None:
        return None
    rows = candidate[0]
    if production is not None and not np.array_equal(production[0], rows):
        raise ValueError("the two models' shuffled scores are of different holdout rows")
    y = np.asarray(y)[rows]

    def base(name: str) -> np.ndarray:  # at the shuffled scores' precision (float32 on disk)
        return probas[name][rows].astype("float32").astype("float64")

    features = compare(
        y, (base("candidate"), candidate[1]),
        None if production is None or probas.get("production") is None
        else (base("production"), production[1]), options.metric, confidence)
    return {"metric": options.metric, "rows": len(rows), "repeats": options.repeats,
            "min_change": options.min_change, "features": features,
            "moved": explain.read_importance(features, options.min_change)}
