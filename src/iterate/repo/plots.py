"""Plot data for ``dvc plots`` (the PNGs are drawn from it by :mod:`iterate.repo.figures`).

Curves are sampled on fixed grids so the files stay small and diff cleanly between iterations.
"""

from __future__ import annotations

import numpy as np

GRID = np.linspace(0.0, 1.0, 101)


def roc_points(y_true: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """True-positive rate on a fixed grid of false-positive rates (none if one class only)."""
    fps, tps = _counts(y_true, proba)
    if fps[-1] == 0 or tps[-1] == 0:
        return []
    fpr, tpr = np.r_[0, fps] / fps[-1], np.r_[0, tps] / tps[-1]
    return [{"fpr": round(float(f), 4), "tpr": round(float(t), 4)}
            for f, t in zip(GRID, np.interp(GRID, fpr, tpr), strict=True)]


def precision_recall_points(y_true: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """Best precision reachable at each recall of a fixed grid (the interpolated PR curve; none
    without a positive row)."""
    fps, tps = _counts(y_true, proba)
    if tps[-1] == 0:
        return []
    last = np.searchsorted(tps, tps[-1])  # full recall reached: later thresholds add nothing
    precision = np.r_[(tps / (tps + fps))[last::-1], 1.0]
    recall = np.r_[(tps / tps[-1])[last::-1], 0.0]
    best = np.maximum.accumulate(precision[np.argsort(recall)][::-1])[::-1]
    ordered_recall = np.sort(recall)
    idx = np.clip(np.searchsorted(ordered_recall, GRID, side="left"), 0, len(best) - 1)
    return [{"recall": round(float(r), 4), "precision": round(float(p), 4)}
            for r, p in zip(GRID, best[idx], strict=True)]


def _counts(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """False and true positives at each distinct score taken as the threshold, highest first:
    the counts ``sklearn.metrics.roc_curve`` and ``precision_recall_curve`` are built from,
    computed here so the evaluate stage does not import scikit-learn (seconds of its start)."""
    order = np.argsort(-np.asarray(proba), kind="mergesort")
    scores, positive = np.asarray(proba)[order], np.asarray(y_true)[order] == 1
    last_of_each = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]
    tps = np.cumsum(positive)[last_of_each].astype("float64")
    return 1.0 + last_of_each - tps, tps


def confusion_rows(y_true: np.ndarray, predicted: np.ndarray) -> list[dict[str, int]]:
    """One record per row, as DVC's confusion template counts them."""
    return [{"actual": int(a), "predicted": int(p)} for a, p in zip(y_true, predicted, strict=True)]
