"""PNG figures for people reviewing offline, drawn where they look (``iterate report`` and the
end of ``iterate loop``), never in a stage.

Each figure is drawn from the files the stages write for ``dvc plots`` (and the holdout's
figures in ``metrics/evaluation.json``), so it shows exactly what DVC renders, and a stage
process never imports matplotlib.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from iterate import params
from iterate.repo import atomic
from iterate.repo.layout import EVALUATION, EVALUATION_PLOTS, MONITOR_PLOTS

METRIC_NAMES = {"roc_auc": "ROC AUC", "f1": "F1", "log_loss": "log loss", "brier": "Brier score",
                "accuracy": "accuracy", "precision": "precision", "recall": "recall"}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "<", ">")
COLORS = {"candidate": "#1f77b4", "production": "#d62728"}
MODELS = ("candidate", "production")
# Each figure's file name and the plot data it is drawn from (the first file must exist).
SOURCES = {
    "evaluation.png": EVALUATION_PLOTS / "roc" / "candidate.json",
    "performance.png": MONITOR_PLOTS / "performance.csv",
    "drift.png": MONITOR_PLOTS / "drift.csv",
    "importance.png": EVALUATION_PLOTS / "importance" / "candidate.json",
}


def draw(folder: Path, params_file: Path = params.DEFAULT_PATH) -> dict[str, Path | str]:
    """Draw every figure whose plot data exists into ``folder``.

    Returns, per file name, the PNG written or why there is none. A PNG left in ``folder`` by
    an earlier call whose data is gone is removed, so no stale figure stays. ``params_file``
    gives the drift thresholds drawn (read only when there is drift data)."""
    import pandas as pd

    drawn: dict[str, Path | str] = {}
    for name, source in SOURCES.items():
        target = folder / name
        if not source.is_file():
            target.unlink(missing_ok=True)
            drawn[name] = f"{source.as_posix()} not found: run `dvc repro`"
            continue
        history = pd.read_csv(source) if source.suffix == ".csv" else None
        if history is not None and history.empty:  # header only: no batch judged yet
            target.unlink(missing_ok=True)
            drawn[name] = f"{source.as_posix()} holds no batch yet (no baseline to judge)"
            continue
        if name == "evaluation.png":
            figure = evaluation_figure(*read_evaluation(source.parent.parent))
        elif name == "importance.png":
            figure = importance_figure(read_importance(source.parent))
        elif name == "performance.png":
            figure = performance_figure(history)
        else:
            drift = params.load(params_file, sections=("drift",)).drift
            figure = drift_figure(history, {"psi": drift.psi_threshold,
                                            "jensen_shannon": drift.js_threshold})
        folder.mkdir(parents=True, exist_ok=True)
        atomic.write_with(target, lambda tmp, figure=figure: figure.savefig(tmp, format="png",
                                                                            dpi=80))
        target.chmod(0o644)  # atomic writes are private (mkstemp); a figure is for sharing
        drawn[name] = target
    return drawn


def read_evaluation(folder: Path) -> tuple[dict[str, dict[str, Any]], str]:
    """Each model's curves, confusion counts and ROC AUC from the evaluate stage's plot data
    (``folder``) and metrics; and the figure's title."""
    metrics = json.loads(EVALUATION.read_text(encoding="utf-8")) if EVALUATION.is_file() else {}
    auc = metrics.get("metrics", {}).get("roc_auc", {})
    models = {}
    for name in MODELS:
        roc = folder / "roc" / f"{name}.json"
        if not roc.is_file():
            continue
        confusion = np.loadtxt(folder / "confusion" / f"{name}.csv", delimiter=",", skiprows=1,
                               dtype=int, ndmin=2)
        models[name] = {
            "roc": json.loads(roc.read_text(encoding="utf-8"))["roc"],
            "precision_recall": json.loads((folder / "precision_recall" / f"{name}.json")
                                           .read_text(encoding="utf-8"))["precision_recall"],
            "counts": np.array([[np.sum((confusion[:, 0] == a) & (confusion[:, 1] == p))
                                 for p in (0, 1)] for a in (0, 1)]),
            "auc": auc.get(name),
        }
    holdout = metrics.get("holdout", {})
    where = f" {holdout['batch']} ({holdout['rows']} rows)" if holdout else ""
    return models, f"Candidate vs production on holdout{where}"


def evaluation_figure(models: dict[str, dict[str, Any]], title: str) -> Any:
    """ROC, precision-recall and confusion matrices of each model on the same holdout."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 8.5), layout="constrained")
    fig.suptitle(title)
    axes = fig.subplots(2, 2)
    roc_ax, pr_ax = axes[0]
    for name, model in models.items():
        auc = f" (AUC {model['auc']:.3f})" if model["auc"] is not None else ""
        roc_ax.plot([r["fpr"] for r in model["roc"]], [r["tpr"] for r in model["roc"]],
                    color=COLORS[name], label=name + auc)
        pr = model["precision_recall"]
        pr_ax.plot([r["recall"] for r in pr], [r["precision"] for r in pr], color=COLORS[name],
                   label=name)
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance")
    roc_ax.set(title="ROC", xlabel="false-positive rate", ylabel="true-positive rate")
    counts = models["candidate"]["counts"]
    pr_ax.axhline(counts[1].sum() / max(counts.sum(), 1), color="grey", linestyle=":",
                  label="base rate")
    pr_ax.set(title="Precision-recall", xlabel="recall", ylabel="precision", ylim=(0, 1.02))
    for ax in (roc_ax, pr_ax):
        ax.legend(loc="lower right" if ax is roc_ax else "upper right")
        ax.grid(alpha=0.3)
    for ax, name in zip(axes[1], MODELS, strict=True):
        if name in models:
            _confusion(ax, models[name]["counts"], f"Confusion matrix: {name}")
        else:
            ax.axis("off")
            ax.text(0.5, 0.5, "no production model yet", ha="center", va="center")
    return fig


def _confusion(ax, counts: np.ndarray, title: str) -> None:
    ax.imshow(counts, cmap="Blues")
    for a in (0, 1):
        for p in (0, 1):
            share = counts[a, p] / max(counts.sum(), 1)
            ax.text(p, a, f"{counts[a, p]}\n({share:.0%})", ha="center", va="center",
                    color="white" if counts[a, p] > counts.max() / 2 else "black")
    ax.set(title=title, xticks=[0, 1], yticks=[0, 1], xlabel="predicted label",
           ylabel="actual label")


def read_importance(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Each model's importance records (the evaluate stage's plot data in ``folder``)."""
    return {name: json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))["importance"]
            for name in MODELS if (folder / f"{name}.json").is_file()}


def importance_figure(models: dict[str, list[dict[str, Any]]]) -> Any:
    """Each feature's permutation importance, candidate beside production, with 95% CIs;
    most important (to the candidate) at the top."""
    from matplotlib.figure import Figure

    order = [r["feature"] for r in sorted(models.get("candidate", []),
                                          key=lambda r: r["importance"])]
    fig = Figure(figsize=(9, 1.5 + 0.4 * max(len(order), 1)), layout="constrained")
    ax = fig.subplots()
    height = 0.38
    for i, name in enumerate(MODELS):
        records = {r["feature"]: r for r in models.get(name, [])}
        y = [k + (0.5 - i) * height for k, f in enumerate(order) if f in records]
        shown = [records[f] for f in order if f in records]
        if not shown:
            continue
        values = np.array([r["importance"] for r in shown])
        low = np.array([r["low"] if r["low"] is not None else r["importance"] for r in shown])
        high = np.array([r["high"] if r["high"] is not None else r["importance"] for r in shown])
        ax.barh(y, values, height=height, color=COLORS[name], alpha=0.8, label=name,
                xerr=[values - low, high - values], capsize=2)
    ax.set_yticks(range(len(order)), order)
    ax.axvline(0, color="grey", linewidth=1)
    ax.set(title="Permutation importance: the metric lost when a feature is shuffled "
                 "(95% CI)", xlabel="importance (explain.metric lost)")
    ax.legend(loc="lower right")
    ax.grid(alpha=0.3, axis="x")
    return fig


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
