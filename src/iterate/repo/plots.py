"""Plot data for ``dvc plots`` and PNG figures for people reviewing offline.

Curves are sampled on fixed grids so the files stay small and diff cleanly between iterations.
"""

from __future__ import annotations

from typing import Any

import numpy as np

GRID = np.linspace(0.0, 1.0, 101)
METRIC_NAMES = {"roc_auc": "ROC AUC", "f1": "F1", "log_loss": "log loss", "brier": "Brier score",
                "accuracy": "accuracy", "precision": "precision", "recall": "recall"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
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


def performance_figure(history: Any) -> Any:
    """Production's metric on each batch as it arrived, with its CI band and the value at
    promotion; alarms are marked."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.5), layout="constrained")
    ax = fig.subplots()
    x = list(range(len(history)))
    metric = history["metric"].iloc[-1]
    value, low, high = history["value"], history["low"], history["high"]
    ax.fill_between(x, low, high, color=COLORS["production"], alpha=0.2, label="95% CI")
    ax.errorbar(x, value, yerr=[value - low, high - value], color=COLORS["production"],
                marker="o", capsize=3, label="production, on the batch as it arrived")
    ax.step(x, history["at_promotion"], where="mid", color="grey", linestyle="--")
    ax.scatter(x, history["at_promotion"], color="grey", marker="_", s=200,
               label="its value at promotion")
    alarms = history["degraded"].astype(bool).to_numpy()
    if alarms.any():
        ax.scatter(np.array(x)[alarms], history["value"][alarms], color="black", marker="x",
                   s=80, zorder=3, label="degradation alarm")
    _batch_axis(ax, history["start"])
    name = METRIC_NAMES.get(metric, metric)
    ax.set(title=f"Production model's {name} on each new batch, before training on it",
           ylabel=name)
    ax.margins(y=0.15)
    ax.legend(loc="best")
    ax.grid(alpha=0.3)
    return fig


def drift_figure(history: Any, thresholds: dict[str, float]) -> Any:
    """Each column's drift effect size per batch (PSI for numbers, Jensen-Shannon for
    categories), the effect-size thresholds, and the drifting points circled."""
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    palette = colormaps["tab20"].colors
    columns = sorted(history["column"].unique())
    colors = {c: palette[i % len(palette)] for i, c in enumerate(columns)}

    fig = Figure(figsize=(11, 7), layout="constrained")
    axes = fig.subplots(2, 1, sharex=True)
    batches = sorted(history["start"].unique())
    position = {b: i for i, b in enumerate(batches)}
    for ax, effect, title in zip(axes, ("psi", "jensen_shannon"),
                                 ("numeric columns and score: PSI",
                                  "categorical columns and label: Jensen-Shannon distance"),
                                 strict=True):
        rows = history[history["effect"] == effect]
        for i, (column, points) in enumerate(rows.groupby("column", sort=True)):
            x = [position[b] for b in points["start"]]
            ax.plot(x, points["effect_size"], marker=MARKERS[i % len(MARKERS)], markersize=4,
                    label=column, color=colors[column])
            drifted = (points["status"] == "drift").to_numpy()
            ax.scatter(np.array(x)[drifted], points["effect_size"][drifted], s=60,
                       facecolors="none", edgecolors=colors[column])
        ax.axhline(thresholds[effect], color="black", linestyle="--", linewidth=1,
                   label=f"threshold {thresholds[effect]:g}")
        ax.set(title=f"Drift of {title} (circled: drift)", ylabel=effect.replace("_", "-"))
        if effect == "psi":
            ax.set_yscale("symlog", linthresh=0.1)
            ax.set_yticks([0, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10])
            ax.set_yticklabels(["0", "0.05", "0.1", "0.2", "0.5", "1", "2", "5", "10"])
            ax.set_ylim(0, max(1.0, float(rows["effect_size"].max() or 0) * 1.5))
        else:
            ax.set_ylim(0, max(1.2 * thresholds[effect], float(rows["effect_size"].max() or 0)))
        ax.grid(alpha=0.3)
        if len(rows):
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize="small")
    _batch_axis(axes[1], batches)
    return fig


def _batch_axis(ax, starts) -> None:
    labels = list(starts)
    step = max(1, len(labels) // 12)
    ax.set_xticks(range(0, len(labels), step), labels[::step], rotation=30, ha="right")
    ax.set_xlabel("batch (first day)")
