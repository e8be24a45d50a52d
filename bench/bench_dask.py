"""Benchmark: predict and evaluate rows/s on N rows (default 10M) on the Dask engine with 1 and
2 workers against the local engine on the same rows; peak memory per worker; in one run.

Predict: the rows are drawn with replacement from the embedded source's rows that pass the
contract (label dropped), written as a folder of Parquet parts; production is the configured
model fitted on the source's first weeks (as bench/bench_predict.py). The local engine streams
the folder through ``prediction_stream.run`` into one CSV; the Dask engine runs
``partitioned.predict`` (one task per part) into a folder of CSV parts. Both write the
prediction log.

Evaluate: N scored rows (a label, two models' probabilities, all distinct; a slice column of 4
values) as a folder of Parquet parts. The local engine reads them whole and calls
``core.evaluate.candidate_vs_production``; the Dask engine runs ``distributed_eval.compare``
(summaries per part, merged on the workers; the paired AUC's second pass), with the AUC on the
default grid of ``compute.auc_bins`` and, once with 2 workers, exact (``auc_bins: null``); each
row gives the AUC delta, and the grid's error bound.

Each engine and worker count runs in its own child process; the time is the work alone (the
LocalCluster's start is reported apart); peak memory is each process's ru_maxrss (for Dask, the
client and each worker process, VmHWM).

    .venv/bin/python bench/bench_dask.py [--rows 10000000] [--parts 16]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from iterate import params  # noqa: E402


def _peak_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent's size
    at the fork before exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_predict_rows(good, folder: Path, n: int, parts: int, seed: int = 0) -> None:
    table = pa.Table.from_pandas(good.reset_index(drop=True), preserve_index=False)
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(n), parts)):
        pq.write_table(table.take(rng.integers(0, len(good), rows.size)),
                       folder / f"part-{i:05d}.parquet")


def write_scored_rows(folder: Path, n: int, parts: int, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for i, rows in enumerate(np.array_split(np.arange(n), parts)):
        y = (rng.random(rows.size) < 0.3).astype("int8")
        pq.write_table(pa.table({
            "label": y,
            "candidate": np.clip(0.25 * y + rng.random(rows.size) * 0.75, 0, 1),
            "production": np.clip(0.2 * y + rng.random(rows.size) * 0.8, 0, 1),
            "origin": np.array(["a", "b", "c", "d"])[rng.integers(0, 4, rows.size)],
        }), folder / f"part-{i:05d}.parquet")


def run_child(task: str, workers: int, root: Path) -> dict:
    """One measurement in a child process (``--child``); its JSON."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, __file__, "--child", task, str(workers), str(root)],
                         env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def child(task: str, workers: int, root: Path) -> dict:
    """Measure ``task`` (predict | evaluate | evaluate-exact) on ``workers`` Dask workers (0:
    the local engine)."""
    p = params.load(ROOT / "params.yaml")
    options = p.evaluate.__class__(**{**p.evaluate.__dict__, "slice_column": "origin"})
    result: dict = {}
    client_ctx = None
    if workers:
        from iterate.repo import cluster

        start = time.perf_counter()
        client_ctx = cluster.session(params.Compute("dask", None, workers))
        client = client_ctx.__enter__()
        result["cluster_start_s"] = time.perf_counter() - start
    start = time.perf_counter()
    if task == "predict":
        from iterate.repo import bundles, prediction_stream, scoring

        entry = json.loads((root / "entry.json").read_text())
        keep = scoring.logged_context(p.contract)
        log = root / f"log-{workers}"
        log.mkdir(exist_ok=True)
        if workers:
            from iterate.repo import partitioned

            rows = partitioned.predict(client, root / "rows", root / f"out-{workers}",
                                       p.predict.chunk_rows, keep, root / "production", entry,
                                       log)
        else:
            bundle = bundles.load_registered(root / "production", entry)
            rows = prediction_stream.run(
                root / "rows", root / "out-0.csv", p.predict.chunk_rows,
                lambda frame, where, offset: scoring.score(bundle, entry["version"], frame,
                                                           where, keep, row_offset=offset),
                log_folder=log)
    else:
        if workers:
            from iterate.repo import distributed_eval

            bins = None if task == "evaluate-exact" else p.compute.auc_bins
            metrics, _, sketch = distributed_eval.compare(
                client, root / "scored", "label", "candidate", "production", 0.5, options, bins)
            result["bound"] = sketch["roc_auc_error_bound"]["delta"]
        else:
            from iterate.core import evaluate

            table = pq.read_table(root / "scored")
            metrics, _ = evaluate.candidate_vs_production(
                table.column("label").to_numpy(), table.column("candidate").to_numpy(),
                table.column("production").to_numpy(), 0.5, options,
                np.asarray(table.column("origin").to_pylist()))
        rows = sum(pq.read_metadata(f).num_rows for f in (root / "scored").glob("*.parquet"))
        result["roc_auc_delta"] = metrics["roc_auc"]["delta"]
    result.update(seconds=time.perf_counter() - start, rows=rows, peak_mb=_peak_mb())
    if workers:
        result["worker_peak_mb"] = sorted(client.run(_peak_mb).values())
        client_ctx.__exit__(None, None, None)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--parts", type=int, default=16, help="Parquet parts of the input")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], int(args.child[1]), Path(args.child[2]))))
        return
    from bench_predict import make_repo

    p = params.load(ROOT / "params.yaml")
    root = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    try:
        good, bundle = make_repo(root / "repo", p)
        shutil.copytree(root / "repo/models/production", root / "production")
        import yaml

        entry = yaml.safe_load((root / "repo/models/registry.yaml").read_text())["versions"][0]
        (root / "entry.json").write_text(json.dumps(entry))
        write_predict_rows(good, root / "rows", args.rows, args.parts)
        write_scored_rows(root / "scored", args.rows, args.parts)
        print(f"{args.rows:,} rows in {args.parts} Parquet parts; model {p.model.estimator}; "
              f"OMP_NUM_THREADS=1; load average {os.getloadavg()[0]:.1f}; "
              f"{os.cpu_count()} cores")
        print("| task | engine | rows/s | vs local | cluster start s | peak MB (client) | "
              "peak MB per worker | ROC AUC delta (bound) |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        local = {}
        for task, workers in (("predict", 0), ("predict", 1), ("predict", 2), ("evaluate", 0),
                              ("evaluate", 1), ("evaluate", 2), ("evaluate-exact", 2)):
            r = run_child(task, workers, root)
            rate = r["rows"] / r["seconds"]
            base = local.setdefault(task.partition("-")[0], rate)
            engine = "local" if not workers else f"dask, {workers} worker" + \
                ("s" if workers > 1 else "")
            start = f"{r['cluster_start_s']:.1f}" if workers else "-"
            per_worker = ", ".join(f"{m:.0f}" for m in r.get("worker_peak_mb", [])) or "-"
            auc = "-" if task == "predict" else f"{r['roc_auc_delta']:.6f}" + \
                (f" ({r['bound']:.2g})" if r.get("bound") is not None else "")
            print(f"| {task} | {engine} | {rate:,.0f} | {rate / base:.2f}x | {start} | "
                  f"{r['peak_mb']:.0f} | {per_worker} | {auc} |", flush=True)
            for out in root.glob("out-*"):
                shutil.rmtree(out) if out.is_dir() else out.unlink()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
