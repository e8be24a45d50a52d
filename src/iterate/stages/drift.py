"""drift: compare the newest batch with the production model's training reference, column by
column and for the model's score and the label rate; score production on the batch as it
arrived; recommend keep, incremental or full; keep both as history across iterations."""

from __future__ import annotations

import argparse
from pathlib import Path

from iterate import params
from iterate.repo import atomic
from iterate.repo.jsonfile import write_json
from iterate.stages import run

PARAMS = ("drift", "monitor")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="drift", description=__doc__)
    parser.add_argument("holdout", type=Path, help="the newest batch (prepare's holdout)")
    parser.add_argument("production", type=Path, help="the production bundle (may be empty)")
    parser.add_argument("drift", type=Path, help="output: every column's scores")
    parser.add_argument("monitor", type=Path, help="output: performance and recommendation")
    parser.add_argument("plots", type=Path, help="output: history CSVs and PNGs (persistent)")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)
    import pandas as pd

    from iterate.core import drift, evaluate, policy
    from iterate.repo import bundles

    batch = pd.read_parquet(args.holdout)
    batch_id = str(batch["batch_id"].iloc[0])
    if not bundles.exists(args.production):
        write_json(args.drift, {"batch": batch_id, "columns": {}, "dataset_drift": None})
        write_json(args.monitor, {"batch": batch_id, "recommendation": "full",
                                  "reasons": ["no production model yet: train from scratch"]})
        args.plots.mkdir(parents=True, exist_ok=True)
        print("drift: no production model yet; nothing to compare with")
        return

    production = bundles.load(args.production)
    meta = production.meta
    reference = bundles.read_reference(args.production)
    label = meta["label"]
    current = batch[[*meta["features"], label]].assign(score=production.predict_proba(batch))
    kinds = drift.kinds_from_schema(meta["input_schema"])
    kinds.update({"score": "numeric", label: "categorical"})
    report = drift.compare(reference, current, kinds, p.drift)
    advice, reasons = policy.recommend(report, has_new_data=True)

    metric = p.monitor.metric
    now = evaluate.describe(current[label].to_numpy(), current["score"].to_numpy(),
                            meta["threshold"])[metric]
    release = bundles.read_release(args.production)
    at_promotion = release["metrics"].get(metric) if release else None
    alarm, alarm_reason = policy.degradation(metric, now, at_promotion, p.monitor.degradation)
    advice = policy.recommendation(advice, reasons, alarm, alarm_reason)

    result = drift.to_dict(report)
    write_json(args.drift, {"batch": batch_id, **result})
    performance = {"metric": metric, **evaluate.to_dict(now), "at_promotion": at_promotion,
                   "degraded": alarm,
                   "version": release["version"] if release else None}
    write_json(args.monitor, {"batch": batch_id, "performance": performance, **advice})
    write_history(args.plots, batch_id, performance, result,
                  {"psi": p.drift.psi_threshold, "jensen_shannon": p.drift.js_threshold})
    print(f"drift: {len(report.drifted)} of {report.tested} columns drift "
          f"({', '.join(report.drifted) or 'none'}); {metric} {now.value:.4f}; recommendation: "
          f"{advice['recommendation']}")


def write_history(folder: Path, batch_id: str, performance: dict, result: dict,
                  thresholds: dict[str, float]) -> None:
    """Add this batch to the performance and drift histories, and redraw their PNGs."""
    import pandas as pd

    from iterate.core import history as histories
    from iterate.repo import plots

    start = batch_id.split("_")[0]  # batch ids start with the batch's first day
    perf = pd.DataFrame([{"batch": batch_id, "start": start, **performance}])
    scores = pd.DataFrame([{"batch": batch_id, "start": start, "column": name,
                            "effect": col["effect"], "effect_size": col["effect_size"],
                            "status": col["status"]} for name, col in result["columns"].items()])
    for name, rows in (("performance.csv", perf), ("drift.csv", scores)):
        path = folder / name
        history = pd.read_csv(path) if path.is_file() else None
        merged = histories.upsert(history, rows, ["batch", "column"] if "column" in rows else
                                ["batch"])
        if name == "performance.csv":  # a number for the x axis of the DVC plot
            merged = merged.drop(columns="n", errors="ignore")
            merged.insert(0, "n", range(1, len(merged) + 1))
        atomic.write_with(path, lambda tmp, merged=merged: merged.to_csv(tmp, index=False))
        if name == "performance.csv":
            figure = plots.performance_figure(merged)
        else:
            figure = plots.drift_figure(merged, thresholds)
        png = folder / name.replace(".csv", ".png")
        atomic.write_with(png, lambda tmp, figure=figure: figure.savefig(tmp, format="png",
                                                                        dpi=80))


if __name__ == "__main__":
    run(main)
