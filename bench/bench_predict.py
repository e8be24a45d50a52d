"""Benchmark: `iterate predict` streaming N rows (default 10M) vs one process calling the
production pipeline's ``predict_proba`` on the same chunks; peak RSS of each, in one run.

The rows are drawn with replacement from the embedded source's rows that pass the contract
(data/source, label dropped), written as Parquet in chunks. Production is the configured model
(params.yaml's `model`) fitted on the source's first weeks, saved with its registry entry in a
temporary repository (the template's files, no git needed to predict). Then, each as its own
child process, peak RSS from ``os.wait4`` (the child's ru_maxrss):

* predict: ``iterate predict rows.parquet -o out.csv`` (contract check, IDs, output CSV, one
  log part per chunk of ``predict.chunk_rows``);
* baseline: the same Parquet file read in chunks of the same size with pyarrow, each chunk's
  features given to the same loaded pipeline's ``predict_proba`` (nothing written).

Throughput is rows / wall time of the child (start-up included in both). Goal: predict peaks
<= 1 GB at 10M rows, at >= 0.8x the baseline's throughput. --sizes runs several sizes (e.g.
1000000,10000000) to show how the peak grows with the rows.

    .venv/bin/python bench/bench_predict.py [--sizes 10000000] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from conftest import template_files  # noqa: E402

from iterate import params  # noqa: E402
from iterate.core import contract as contract_module  # noqa: E402

BASELINE = """
import sys, pyarrow.parquet as pq
from iterate.repo import bundles, deploy, registry
from iterate.repo.layout import PRODUCTION
bundle = bundles.load_registered(PRODUCTION, registry.current(deploy.read_registry()))
columns, rows = bundle.meta["features"], 0
for batch in pq.ParquetFile(sys.argv[1]).iter_batches(batch_size=int(sys.argv[2])):
    rows += len(bundle.pipeline.predict_proba(batch.to_pandas()[columns]))
print(rows)
"""


def make_repo(root: Path, p: params.Params) -> tuple[Path, object]:
    """A template copy with production fitted on the source's first four weeks."""
    import pandas as pd
    from helpers import full_fit

    from iterate.repo import bundles

    for name in template_files():
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    raw = pd.read_csv(ROOT / p.replay.source, dtype=str, keep_default_na=False, na_values=[""])
    good = contract_module.validate(raw, p.contract).good
    times = pd.to_datetime(good[p.contract.time_column], utc=True)
    train = good[times < times.min() + pd.Timedelta(days=28)].assign(batch_id="b1")
    bundle = full_fit(train, p.model, root / "fit")
    bundle.reference = train[[*p.contract.features, p.contract.label]].assign(
        score=bundle.predict_proba(train))
    bundles.save(bundle, root / "models/production")
    (root / "models/registry.yaml").write_text(yaml.safe_dump({"versions": [{
        "version": "1.0.0", "action": "promote", "time": "2026-01-01T00:00:00Z",
        "reason": "bench", "forced": False, "model_sha256": bundle.meta["sha256"],
        "dvc": {"md5": "0.dir", "path": "production"}, "kind": bundle.kind,
        "train_mode": "full", "model_params": bundle.meta["model_params"],
        "training_data": {}}]}))
    return good.drop(columns=[p.contract.label]), bundle


def write_rows(good, path: Path, n: int, chunk: int = 500_000, seed: int = 0) -> None:
    """``n`` rows drawn with replacement from ``good``, written ``chunk`` rows at a time."""
    table = pa.Table.from_pandas(good.reset_index(drop=True), preserve_index=False)
    rng = np.random.default_rng(seed)
    with pq.ParquetWriter(path, table.schema) as writer:
        for start in range(0, n, chunk):
            writer.write_table(table.take(rng.integers(0, len(good), min(chunk, n - start))))


# Linux counts a forked child's peak from the parent's size at the fork: this small process
# starts the measured one and reports that one's own peak (RUSAGE_CHILDREN) and wall time.
MEASURE = """
import resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(code, time.perf_counter() - start, peak / 1024)
"""


def child(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``argv`` in ``cwd``; its wall seconds and peak RSS in MB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], cwd=cwd, env=env,
                         capture_output=True, text=True, check=True).stdout.split()
    if out[0] != "0":
        raise SystemExit(f"{argv[:3]} failed with exit code {out[0]}")
    return float(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000000", help="rows, comma-separated")
    parser.add_argument("--keep", type=Path, help="work here and keep it (default: a temp dir)")
    args = parser.parse_args()
    p = params.load(ROOT / "params.yaml")
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-predict-"))
    root.mkdir(parents=True, exist_ok=True)
    good, _ = make_repo(root, p)
    chunk = p.predict.chunk_rows
    print(f"model {p.model.estimator}, chunk_rows {chunk}, OMP_NUM_THREADS=1, load average "
          f"{os.getloadavg()[0]:.1f}")
    print("| rows | predict s | baseline s | throughput ratio | predict peak MB | "
          "baseline peak MB |")
    print("| --- | --- | --- | --- | --- | --- |")
    try:
        for n in (int(s) for s in args.sizes.split(",")):
            source = root / f"rows_{n}.parquet"
            write_rows(good, source, n)
            shutil.rmtree(root / "data/predictions", ignore_errors=True)
            t_pred, m_pred = child([sys.executable, "-m", "iterate.commands.cli", "predict",
                                    str(source), "-o", str(root / "out.csv")], root)
            t_base, m_base = child([sys.executable, "-c", BASELINE, str(source), str(chunk)],
                                   root)
            print(f"| {n:,} | {t_pred:.1f} | {t_base:.1f} | {t_base / t_pred:.2f}x | "
                  f"{m_pred:.0f} | {m_base:.0f} |", flush=True)
            for done in (source, root / "out.csv"):
                done.unlink(missing_ok=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
