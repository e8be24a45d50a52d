"""Benchmark: a full refit of N training rows (default 2M) with ``train.fit: whole`` against
``train.fit: stream`` (``train.epochs`` passes of ``partial_fit`` over the file's row groups) on
the local engine and on a Dask LocalCluster of 2 workers; seconds and peak memory of the process
that runs the train stage (the client) and of each worker; in one run.

The rows are drawn with replacement from the embedded source's rows that pass the contract,
written as prepare writes train.parquet, in row groups of ``--group-rows``; the model is the SGD
logistic classifier (``params.SGD_LOGISTIC``, the one with ``partial_fit``). Each fit runs in its
own child process (peak memory is VmHWM); the streamed fits' bundles must be the same bytes.

    .venv/bin/python bench/bench_stream_fit.py [--rows 2000000] [--group-rows 250000]
        [--fit-rows 1000000]

``--fit-rows`` is the transformer's sample (``streaming.FIT_ROWS`` by default): the stage's
process fits the transformer on that many rows whatever ``train.fit``, so below a window whose
matrix outweighs that fit, the client's peak is the same for both; a smaller sample shows the
matrix's part alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from bench_dask import _peak_mb  # noqa: E402

from iterate import params  # noqa: E402

RUNS = (("whole", "local"), ("stream", "local"), ("stream", "dask"))


def model(p: params.Params) -> params.Model:
    sgd = params.SGD_LOGISTIC
    return dataclasses.replace(p.model, estimator=sgd.estimator, params=dict(sgd.params))


def write_train(path: Path, n: int, group_rows: int, p: params.Params) -> None:
    import numpy as np
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    from iterate.core import contract

    raw = pd.read_csv(ROOT / p.replay.source, dtype=str, keep_default_na=False, na_values=[""])
    good = pa.Table.from_pandas(contract.validate(raw, p.contract).good.assign(batch_id="b1"),
                                preserve_index=False).replace_schema_metadata(None)
    rows = np.random.default_rng(0).integers(0, good.num_rows, n)
    pq.write_table(good.take(rows), path, row_group_size=group_rows)


def child(fit: str, engine: str, root: Path, fit_rows: int) -> dict:
    from contextlib import contextmanager

    from iterate.repo import bundles, cluster, streaming

    p = params.load(ROOT / "params.yaml")
    workers: list[float] = []
    opened = cluster.session

    @contextmanager
    def measured(compute):  # each worker's peak memory, read before the cluster closes
        with opened(compute) as client:
            yield client
            workers.extend(sorted(client.run(_peak_mb).values()))

    cluster.session = measured
    start = time.perf_counter()
    path = root / "train.parquet"
    streamed = streaming.streamed(path, p.contract, p.train.epochs,
                                  params.Compute(engine, None, 2)) if fit == "stream" else None
    bundle = streaming.fit_file(path, "bench", model(p), p.contract, p.train.reference_rows,
                                fit_rows, fit_estimator=streamed)
    seconds = time.perf_counter() - start
    out = root / f"bundle-{fit}-{engine}"
    bundles.save(bundle, out)
    sha = hashlib.sha256((out / bundles.MODEL_FILE).read_bytes()).hexdigest()
    return {"seconds": seconds, "peak_mb": _peak_mb(), "sha256": sha, "workers_mb": workers}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--group-rows", type=int, default=250_000)
    parser.add_argument("--fit-rows", type=int, default=None,
                        help="the transformer's sample (default streaming.FIT_ROWS)")
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], args.child[1], Path(args.child[2]),
                               int(args.child[3]))))
        return
    from iterate.repo import streaming

    p = params.load(ROOT / "params.yaml")
    fit_rows = args.fit_rows or streaming.FIT_ROWS
    root = Path(tempfile.mkdtemp(prefix="bench-stream-fit-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    try:
        write_train(root / "train.parquet", args.rows, args.group_rows, p)
        groups = -(-args.rows // args.group_rows)
        print(f"{args.rows:,} rows in {groups} row groups; transformer fitted on "
              f"{min(fit_rows, args.rows):,}; SGD logistic; train.epochs "
              f"{p.train.epochs}; load average {os.getloadavg()[0]:.1f}; "
              f"{os.cpu_count()} cores")
        print("| train.fit | engine | seconds | peak MB (client) | peak MB per worker |")
        print("| --- | --- | --- | --- | --- |")
        shas = {}
        for fit, engine in RUNS:
            r = json.loads(subprocess.run(
                [sys.executable, __file__, "--child", fit, engine, str(root), str(fit_rows)],
                env=env,
                capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1])
            shas[fit, engine] = r["sha256"]
            workers = ", ".join(f"{m:.0f}" for m in r["workers_mb"]) or "-"
            print(f"| {fit} | {engine} | {r['seconds']:.1f} | {r['peak_mb']:.0f} | {workers} |",
                  flush=True)
        same = shas["stream", "local"] == shas["stream", "dask"]
        print(f"streamed bundles: {'the same bytes' if same else 'DIFFER'} on both engines")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
