"""The train stage's first step: production on the newest batch. Compare the batch with the
baseline's training reference (the production model as the iteration began), column by column
and for the model's score and the label rate; score the baseline on the batch as it arrived
(the scores the evaluate stage compares); recommend keep, incremental or full, and let the
trigger say whether a candidate can pay; keep both as append-only history across iterations.
Their numbers (performance, drift share, each column's effect size) go to a file for
`dvc metrics`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from iterate import params
from iterate.repo import atomic
from iterate.repo.jsonfile import write_json, write_metrics

if TYPE_CHECKING:
    import pandas as pd

PARAMS = ("drift", "monitor", "trigger", "explain", "compute")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The step's outputs, as options of the train stage (its inputs are the stage's own)."""
    for option, text in (
            ("--drift", "every column's scores"),
            ("--monitor", "production's performance and the recommendation"),
            ("--advice", "the recommendation and the trigger's decision alone (a monitoring "
                         "number that changes leaves it as is)"),
            ("--drift-numbers", "their key numbers (DVC metrics)"),
            ("--history", "the folder of history CSVs (persistent)"),
            ("--baseline-scores", "the baseline's score of each holdout row"),
            ("--baseline-shuffled", "its scores of the holdout sample with each feature "
                                    "shuffled (for permutation importance)")):
        parser.add_argument(option, type=Path, required=True, help=f"output: {text}")


def judge_production(args: argparse.Namespace, p: params.Params) -> pd.DataFrame:
    """Write the step's outputs for ``args.holdout`` against ``args.baseline``; returns the
    holdout as read (the training step scores the same rows)."""
    import pandas as pd

    from iterate.core import drift, evaluate, importance, policy
    from iterate.repo import bundles, scores

    batch = pd.read_parquet(args.holdout)
    batch_id = str(batch["batch_id"].iloc[0])
    if not bundles.exists(args.baseline):
        write_json(args.drift, {"batch": batch_id, "columns": {}, "dataset_drift": None})
        write_json(args.monitor, {"batch": batch_id, "recommendation": "full",
                                  "reasons": ["no production model yet: train from scratch"]})
        write_json(args.advice, {"batch": batch_id, "recommendation": "full", "age": None,
                                 "trigger": {"action": "train", "window": None,
                                             "reason": "no production model yet"}})
        write_metrics(args.drift_numbers, {})
        scores.write(args.baseline_scores, None)
        scores.write_shuffled(args.baseline_shuffled, None)
        start_history(args.history)
        print("drift: no production model yet; nothing to compare with")
        return batch

    production = bundles.load(args.baseline)
    meta = production.meta
    reference = bundles.read_reference(args.baseline)
    label = meta["label"]
    current = batch[[*meta["features"], label]].assign(score=production.predict_proba(batch))
    scores.write(args.baseline_scores, current["score"].to_numpy())
    scores.write_shuffled(args.baseline_shuffled, importance.shuffled_scores(
        production.predict_proba, batch, meta["features"], p.explain))
    kinds = drift.kinds_from_schema(meta["input_schema"])
    kinds.update({"score": "numeric", label: "categorical"})
    if p.compute.engine == "dask":  # counts per part on the cluster (docs/scale.md)
        from iterate.repo import distributed_drift

        report = distributed_drift.drift_of_frames(p.compute, args.drift.parent, reference,
                                                   current, kinds, p.drift)
    else:
        report = drift.compare(reference, current, kinds, p.drift)
    advice, reasons = policy.recommend(report, has_new_data=True)

    metric = p.monitor.metric
    now = evaluate.describe(current[label].to_numpy(), current["score"].to_numpy(),
                            meta["threshold"])[metric]
    release = bundles.read_release(args.baseline)
    at_promotion = release["metrics"].get(metric) if release else None
    alarm, alarm_reason = policy.degradation(metric, now, at_promotion, p.monitor.degradation)
    advice = policy.recommendation(advice, reasons, alarm, alarm_reason)

    result = drift.to_dict(report)
    write_json(args.drift, {"batch": batch_id, **result})
    performance = {"metric": metric, **evaluate.to_dict(now), "at_promotion": at_promotion,
                   "degraded": alarm,
                   "version": release["version"] if release else None}
    write_json(args.monitor, {"batch": batch_id, "performance": performance, **advice})
    decision, age = triggered(args, p, batch_id, result, alarm, release)
    write_json(args.advice, {"batch": batch_id, "recommendation": advice["recommendation"],
                             "age": age, "trigger": decision.to_dict()})
    write_metrics(args.drift_numbers, {
        "performance": {**evaluate.to_dict(now), "at_promotion": at_promotion,
                        "degraded": int(alarm)},
        "drift": {"share": result["share"], "drifted": len(report.drifted),
                  "tested": report.tested},
        "effect_size": {name: col["effect_size"] for name, col in result["columns"].items()}})
    write_history(args.history, batch_id, performance, result)
    value = "n/a (one class only)" if now.value is None else f"{now.value:.4f}"
    print(f"drift: {len(report.drifted)} of {report.tested} columns drift "
          f"({', '.join(report.drifted) or 'none'}); {metric} {value}; recommendation: "
          f"{advice['recommendation']}; trigger: {decision.action} ({decision.reason})")
    return batch


def triggered(args: argparse.Namespace, p, batch_id: str, result: dict, alarm: bool,
              release: dict | None):
    """The trigger's decision on this batch and production's age (batches judged since it was
    promoted, this one included), from the performance history before this batch."""
    import pandas as pd

    from iterate.core import trigger
    from iterate.repo import bundles

    path = args.history / "performance.csv"
    history = pd.read_csv(path, dtype={"batch": str, "version": str}) if path.is_file() \
        else pd.DataFrame(columns=["batch", "degraded", "version"])
    history = history[history["batch"] != batch_id]  # a rerun: this batch's row is not history
    version = release["version"] if release else None
    age = int((history["version"] == version).sum()) + 1 if version else len(history) + 1
    score = result["columns"].get("score", {}).get("effect_size")
    decision = trigger.decide(p.trigger, has_production=True, number=len(history) + 1,
                              streak=trigger.streak(alarm, history["degraded"][::-1]),
                              score_psi=score,
                              pending=bundles.exists(args.challenger))
    return decision, age


HISTORY_HEADERS = {  # the columns write_history writes, in its order
    "performance.csv": "n,batch,start,metric,value,low,high,at_promotion,degraded,version\n",
    "drift.csv": "batch,start,column,effect,effect_size,status\n"}


def start_history(folder: Path) -> None:
    """Header-only histories until a baseline is there to judge: git keeps no empty folder,
    and the stage's output must come back with a checkout of its commit."""
    for name, header in HISTORY_HEADERS.items():
        if not (folder / name).is_file():
            atomic.write_text(folder / name, header)


def write_history(folder: Path, batch_id: str, performance: dict, result: dict) -> None:
    """Append this batch to the performance and drift histories (for ``dvc plots`` and the PNGs
    :mod:`iterate.repo.figures` draws from them); a batch they hold already keeps its first
    rows (a rerun never rewrites what was judged)."""
    import pandas as pd

    from iterate.core import history as histories

    start = batch_id.split("_")[0]  # batch ids start with the batch's first day
    perf = pd.DataFrame([{"batch": batch_id, "start": start, **performance}])
    scores = pd.DataFrame([{"batch": batch_id, "start": start, "column": name,
                            "effect": col["effect"], "effect_size": col["effect_size"],
                            "status": col["status"]} for name, col in result["columns"].items()])
    for name, rows in (("performance.csv", perf), ("drift.csv", scores)):
        path = folder / name
        history = pd.read_csv(path) if path.is_file() else None
        if name == "performance.csv":  # a number for the x axis of the DVC plot
            rows.insert(0, "n", 1 if history is None or history.empty else len(history) + 1)
        merged = histories.append_new(history, rows, ["batch", "column"] if "column" in rows
                                      else ["batch"])
        if merged is None:
            print(f"drift: {path} holds batch {batch_id} already; its first rows stay")
            continue
        atomic.write_with(path, lambda tmp, merged=merged: merged.to_csv(tmp, index=False))

