"""Plot data for ``dvc plots`` and PNG figures for people reviewing offline.

Curves are sampled on fixed grids so the files stay small and diff cleanly between iterations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GRID = np.linspace(0.0, 1.0, 101)
COLORS = {"candidate": "#1f77b4", "production": "#d62728"}


def roc_points(y_true: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """True-positive rate on a fixed grid of false-positive rates."""
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_true, proba)
    return [{"fpr": round(float(f), 4), "tpr": round(float(t), 4)}
            for f, t in zip(GRID, np.interp(GRID, fpr, tpr), strict=True)]


def precision_recall_points(y_true: np.ndarray, proba: np.ndarray) -> list[dict[str, float]]:
    """Best precision reachable at each recall of a fixed grid (the interpolated PR curve)."""
    from sklearn.metrics import precision_recall_curve

    precision, recall, _ = precision_recall_curve(y_true, proba)
    best = np.maximum.accumulate(precision[np.argsort(recall)][::-1])[::-1]
    ordered_recall = np.sort(recall)
    idx = np.clip(np.searchsorted(ordered_recall, GRID, side="left"), 0, len(best) - 1)
    return [{"recall": round(float(r), 4), "precision": round(float(p), 4)}
            for r, p in zip(GRID, best[idx], strict=True)]


def confusion_rows(y_true: np.ndarray, predicted: np.ndarray) -> list[dict[str, int]]:
    """One record per row, as DVC's confusion template counts them."""
    return [{"actual": int(a), "predicted": int(p)} for a, p in zip(y_true, predicted, strict=True)]


def evaluation_figure(y_true: np.ndarray, probas: dict[str, np.ndarray], threshold: float,
                      title: str) -> Any:
    """ROC, precision-recall and confusion matrices of each model on the same holdout."""
    from matplotlib.figure import Figure
    from sklearn.metrics import roc_auc_score

    fig = Figure(figsize=(11, 8.5), layout="constrained")
    fig.suptitle(title)
    axes = fig.subplots(2, 2)
    roc_ax, pr_ax = axes[0]
    for name, proba in probas.items():
        roc = roc_points(y_true, proba)
        auc = f" (AUC {roc_auc_score(y_true, proba):.3f})" if len(np.unique(y_true)) > 1 else ""
        roc_ax.plot([r["fpr"] for r in roc], [r["tpr"] for r in roc], color=COLORS[name],
                    label=name + auc)
        pr = precision_recall_points(y_true, proba)
        pr_ax.plot([r["recall"] for r in pr], [r["precision"] for r in pr], color=COLORS[name],
                   label=name)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    roc_ax.set(title="ROC", xlabel="false-positive rate", ylabel="true-positive rate")
    pr_ax.axhline(float(np.mean(y_true)), color="grey", linestyle=":", label="base rate")
    pr_ax.set(title="Precision-recall", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax):
        ax.legend(loc="lower right" if ax is roc_ax else "upper right")
        ax.grid(alpha=0.3)
    for ax, name in zip(axes[1], ("candidate", "production"), strict=True):
        if name in probas:
            _confusion(ax, y_true, probas[name] >= threshold, f"Confusion matrix: {name}")
        else:
            ax.axis("off")
            ax.text(0.5, 0.5, "no production model yet", ha="center", va="center")
    return fig


def _confusion(ax, y_true: np.ndarray, predicted: np.ndarray, title: str) -> None:
    counts = np.array([[np.sum((y_true == a) & (predicted == p)) for p in (0, 1)]
                       for a in (0, 1)])
    ax.imshow(counts, cmap="Blues")
    for a in (0, 1):
        for p in (0, 1):
            share = counts[a, p] / max(counts.sum(), 1)
            ax.text(p, a, f"{counts[a, p]}\n({share:.0%})", ha="center", va="center",
                    color="white" if counts[a, p] > counts.max() / 2 else "black")
    ax.set(title=title, xticks=[0, 1], yticks=[0, 1], xlabel="predicted label",
           ylabel="actual label")
