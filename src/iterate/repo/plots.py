"""Plot data for ``dvc plots`` (the PNGs are drawn from it by :mod:`iterate.repo.figures`).

Curves are sampled on fixed grids so the files stay small and diff cleanly between iterations.
"""

from __future__ import annotations

import numpy as np

GRID = np.linspace(0.0, 1.0, 101)


def roc_points(y_true: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """True-positive rate on a fixed grid of false-positive rates; no points when the labels
    hold one class (the curve is undefined, and plot data holds finite numbers only)."""
    from sklearn.metrics import roc_curve

    if len(np.unique(y_true)) < 2:
        return []
    fpr, tpr, _ = roc_curve(y_true, proba)
    return [{"fpr": round(float(f), 4), "tpr": round(float(t), 4)}
            for f, t in zip(GRID, np.interp(GRID, fpr, tpr), strict=True)]


def precision_recall_points(y_true: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """Best precision reachable at each recall of a fixed grid (the interpolated PR curve); no
    points when the labels hold one class."""
    from sklearn.metrics import precision_recall_curve

    if len(np.unique(y_true)) < 2:
        return []
    precision, recall, _ = precision_recall_curve(y_true, proba)
    best = np.maximum.accumulate(precision[np.argsort(recall)][::-1])[::-1]
    ordered_recall = np.sort(recall)
    idx = np.clip(np.searchsorted(ordered_recall, GRID, side="left"), 0, len(best) - 1)
    return [{"recall": round(float(r), 4), "precision": round(float(p), 4)}
            for r, p in zip(GRID, best[idx], strict=True)]


def confusion_rows(y_true: np.ndarray, predicted: np.ndarray) -> list[dict[str, int]]:
    """One record per row, as DVC's confusion template counts them."""
    return [{"actual": int(a), "predicted": int(p)} for a, p in zip(y_true, predicted, strict=True)]
