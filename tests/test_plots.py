"""The evaluate stage's curve data (repo/plots.py) is scikit-learn's, computed with numpy alone."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import precision_recall_curve, roc_curve

from iterate.repo import plots


def sklearn_roc(y, proba):
    fpr, tpr, _ = roc_curve(y, proba)
    return [{"fpr": round(float(f), 4), "tpr": round(float(t), 4)}
            for f, t in zip(plots.GRID, np.interp(plots.GRID, fpr, tpr), strict=True)]


def sklearn_pr(y, proba):
    precision, recall, _ = precision_recall_curve(y, proba)
    best = np.maximum.accumulate(precision[np.argsort(recall)][::-1])[::-1]
    idx = np.clip(np.searchsorted(np.sort(recall), plots.GRID, side="left"), 0, len(best) - 1)
    return [{"recall": round(float(r), 4), "precision": round(float(p), 4)}
            for r, p in zip(plots.GRID, best[idx], strict=True)]


@pytest.mark.parametrize("seed", range(6))
def test_the_roc_and_precision_recall_points_are_scikit_learns(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 3000))
    y = (rng.random(n) < rng.uniform(0.05, 0.6)).astype(int)
    proba = np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1)
    if seed % 2:  # many tied scores, as a tree ensemble's leaves give
        proba = np.round(proba, 1)
    assert plots.roc_points(y, proba) == sklearn_roc(y, proba)
    assert plots.precision_recall_points(y, proba) == sklearn_pr(y, proba)


def test_a_holdout_of_one_class_gives_no_curve_rather_than_nan():
    y, proba = np.zeros(10, dtype=int), np.linspace(0, 1, 10)
    assert plots.roc_points(y, proba) == []
    assert plots.precision_recall_points(y, proba) == []
