"""evaluate: compare the candidate's and the baseline's scores (the production model as the
iteration began) on the same holdout, overall and per slice, with the paired CI of each
difference; write the full results (with the holdout's batch and both models' hashes), their
numbers for `dvc metrics`, and DVC plot data; then the gate's verdict on them (the gate step,
:mod:`iterate.stages.gate`). The train stage scored the holdout with both models, so this stage
loads no model."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

from iterate import params
from iterate.repo import atomic
from iterate.repo.jsonfile import write_json, write_metrics
from iterate.stages import gate, run

PARAMS = ("evaluate", "explain", "compute", *gate.PARAMS)
COMPARED = ("candidate", "production", "delta", "delta_low", "delta_high")  # in dvc metrics


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__)
    parser.add_argument("holdout", type=Path, help="prepare's holdout.parquet")
    parser.add_argument("candidate", type=Path, help="the candidate's model.json")
    parser.add_argument("baseline", type=Path, help="the baseline bundle (may be empty)")
    parser.add_argument("candidate_scores", type=Path, help="train's scores of the holdout")
    parser.add_argument("baseline_scores", type=Path, help="the baseline's scores of the holdout")
    parser.add_argument("metrics", type=Path, help="output: overall metrics JSON")
    parser.add_argument("slices", type=Path, help="output: per-slice metrics JSON")
    parser.add_argument("numbers", type=Path, help="output: their key numbers (DVC metrics)")
    parser.add_argument("plots", type=Path, help="output: folder of plot data")
    parser.add_argument("challenger", type=Path, help="the pending challenger (may be empty)")
    parser.add_argument("evidence", type=Path, help="output: the paired evidence, this holdout's "
                        "rows after the challenger's earlier ones (the gate pools it)")
    parser.add_argument("candidate_shuffled", type=Path, help="train's shuffled scores")
    parser.add_argument("baseline_shuffled", type=Path, help="the baseline's shuffled scores")
    gate.add_arguments(parser)
    args = parser.parse_args(argv)
    loaded = params.load(sections=PARAMS)
    p, explain = loaded.evaluate, loaded.explain
    import pyarrow.parquet as pq

    from iterate.core import evaluate, gaps, importance
    from iterate.repo import scores

    candidate = json.loads(args.candidate.read_text(encoding="utf-8"))
    baseline = args.baseline / "model.json"
    production = json.loads(baseline.read_text(encoding="utf-8")) if baseline.is_file() else None
    label = candidate["label"]
    grouped = list(dict.fromkeys([*([p.slice_column] if p.slice_column else []),
                                  *explain.sensitive_columns]))
    columns = ["batch_id", label, *grouped]
    holdout = pq.ParquetFile(args.holdout).read(columns=columns)  # read_table imports pandas
    y = scores.column(holdout, label, None)
    probas = {"candidate": scores.read(args.candidate_scores, len(y))}
    if production is not None:
        probas["production"] = scores.read(args.baseline_scores, len(y))
    cut = {"candidate": candidate["threshold"],  # each model's own (model.threshold's rule)
           **({"production": production["threshold"]} if production else {})}
    threshold = (cut["candidate"], cut["production"]) if production else cut["candidate"]
    groups = {c: scores.slice_keys(holdout.column(c)) for c in grouped}
    if loaded.compute.engine == "dask":  # summaries per part on the cluster (docs/scale.md)
        from iterate.repo import distributed_eval

        metrics, slices, sketch = distributed_eval.compare_arrays(
            loaded.compute, args.metrics.parent, y, probas["candidate"],
            probas.get("production"), threshold, p, groups.get(p.slice_column))
        engine = {"engine": {"name": "dask", **sketch}}
    else:
        engine = {}
        metrics, slices = evaluate.candidate_vs_production(
            y, probas["candidate"], probas.get("production"), threshold, p,
            groups.get(p.slice_column))
    shuffled = {"candidate": scores.read_shuffled(args.candidate_shuffled, len(y))}
    if production is not None:
        shuffled["production"] = scores.read_shuffled(args.baseline_shuffled, len(y))
    explained = {
        "importance": importance.paired(y, probas, shuffled, explain, p.confidence),
        "gaps": gaps.by_column(y, probas["candidate"], probas.get("production"), groups,
                               threshold, known={p.slice_column: slices["values"]},
                               min_rows=p.min_slice_rows, min_change=explain.min_change,
                               confidence=p.confidence, resamples=p.resamples, seed=p.seed)}
    holdout_batch = holdout.column("batch_id")[0].as_py()
    shape = {"rows": len(y), "positive_rate": round(float(y.mean()), 6)}
    write_json(args.metrics, {
        "holdout": {"batch": holdout_batch, **shape,
                    "classes": sorted({int(c) for c in y.tolist()})},
        "models": {"candidate": candidate["sha256"],
                   "production": production["sha256"] if production else None},
        "thresholds": cut,
        "metrics": metrics,
        **engine,
        **explained,
    })
    write_json(args.slices, slices)
    write_metrics(args.numbers, numbers(shape, metrics, slices["values"]))
    write_plots(args.plots, y, probas, cut)
    write_evidence(args.evidence, args.challenger, holdout_batch, y, probas,
                   candidate["sha256"], production["sha256"] if production else None)
    write_importance_plots(args.plots, explained["importance"])
    auc = metrics["roc_auc"]
    print(f"evaluate: holdout {holdout_batch}, {len(y)} rows; ROC AUC candidate "
          f"{_fmt(auc['candidate'])}, production {_fmt(auc['production'])}")
    gate.judge(args, loaded)


def numbers(holdout: dict, overall: dict, slices: dict) -> dict:
    """What `dvc metrics diff` compares: each metric of both models with the difference and its
    CI, and each slice's differences (the full results are in the other two files)."""
    return {"holdout": holdout,
            "metrics": {m: {k: s[k] for k in COMPARED} for m, s in overall.items()},
            "slices": {value: {m: {"delta": s["delta"]} for m, s in metrics.items()}
                       for value, metrics in slices.items() if metrics}}


def write_evidence(path: Path, challenger: Path, batch: str, y, probas: dict, candidate: str,
                   production: str | None) -> None:
    """The paired evidence the gate pools (``.npz``: numpy alone writes it, where pyarrow would
    import pandas): the pending challenger's earlier rows when the candidate is that challenger
    and production is still the one it was judged against, then this holdout's rows (none
    without production)."""
    import numpy as np

    parts = {"batch": [], "label": [], "challenger": [], "production": []}
    earlier, meta = challenger / "evidence.npz", challenger / "model.json"
    if production and earlier.is_file() and meta.is_file() and \
            json.loads(meta.read_text(encoding="utf-8"))["sha256"] == candidate:
        with np.load(earlier, allow_pickle=False) as old:
            if str(old["production_sha256"]) == production:
                for name in parts:
                    parts[name].append(old[name])
    if production:
        for name, values in (("batch", np.full(len(y), batch)), ("label", y.astype("int8")),
                             ("challenger", probas["candidate"]),
                             ("production", probas["production"])):
            parts[name].append(np.asarray(values))
    arrays = {name: np.concatenate(v) if v else np.array([], dtype=str if name == "batch"
                                                          else float)
              for name, v in parts.items()}
    atomic.write_with(path, lambda tmp: _savez(tmp, arrays, production or ""))


def _savez(path: str, arrays: dict, production: str) -> None:
    import numpy as np

    with open(path, "wb") as file:  # a file object: savez would add .npz to a name
        np.savez(file, production_sha256=np.array(production), **arrays)


def write_plots(folder: Path, y, probas: dict, cut: dict) -> None:
    """Each model's ROC and precision-recall curves and confusion rows (at its own threshold,
    ``cut``), for ``dvc plots``."""
    from iterate.repo import plots

    for name, proba in probas.items():
        write_json(folder / "roc" / f"{name}.json", {"roc": plots.roc_points(y, proba)})
        write_json(folder / "precision_recall" / f"{name}.json",
                   {"precision_recall": plots.precision_recall_points(y, proba)})
        rows = plots.confusion_rows(y, proba >= cut[name])
        atomic.write_with(folder / "confusion" / f"{name}.csv",
                          lambda tmp, rows=rows: _write_csv(tmp, rows))


def write_importance_plots(folder: Path, result: dict | None) -> None:
    """Each model's importance of every feature with its CI, for ``dvc plots`` (the top-level
    Importance plot) and the report's PNG; no production file without a production model."""
    for name in ("candidate", "production"):
        rows = [{"feature": f, "importance": s[name], "low": s[f"{name}_low"],
                 "high": s[f"{name}_high"]}
                for f, s in ((result or {}).get("features") or {}).items()
                if s.get(name) is not None]
        path = folder / "importance" / f"{name}.json"
        if rows or name == "candidate":
            write_json(path, {"importance": rows})


def _write_csv(path: str, rows: list[dict[str, int]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=["actual", "predicted"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


if __name__ == "__main__":
    run(main)
