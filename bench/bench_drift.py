"""Benchmark: one drift comparison of 15 columns (reference 50,000 rows, current 6,000 rows).

11 numeric columns (normal, integer-valued, zero-inflated, with missing values) and 4
categorical ones (3 to 100 categories, one with unseen categories). Reports the median and
best wall time of ``drift.compare`` over the repeats.

    .venv/bin/python bench/bench_drift.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import pandas as pd

from iterate.core import drift


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    cols: dict[str, np.ndarray] = {}
    for i in range(8):
        x = rng.normal(shift * (i % 2), 1.0 + i, n)
        if i % 3 == 0:
            x[rng.random(n) < 0.05] = np.nan
        cols[f"num{i}"] = x
    cols["minutes"] = rng.integers(0, 2360, n).astype(float)
    cols["precip"] = np.where(rng.random(n) < 0.9, 0.0, rng.exponential(0.1, n))
    cols["score"] = 1.0 / (1.0 + np.exp(-rng.normal(-1.0 + shift, 1.0, n)))
    cols["origin"] = rng.choice(np.array(["EWR", "JFK", "LGA"]), n, p=[0.4, 0.3, 0.3])
    cols["carrier"] = rng.choice(np.array([f"C{i}" for i in range(16)]), n)
    dest = 100 + (5 if shift else 0)
    cols["dest"] = rng.choice(np.array([f"D{i:03d}" for i in range(dest)]), n)
    cols["late"] = (rng.random(n) < 0.24 + 0.05 * shift).astype(int)
    return pd.DataFrame(cols)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    reference, current = frame(50_000, 0), frame(6_000, 1, shift=0.3)
    kinds = {c: "numeric" for c in reference.columns[:11]}
    kinds.update({c: "categorical" for c in reference.columns[11:]})
    assert len(kinds) == 15
    drift.compare(reference, current, kinds)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        report = drift.compare(reference, current, kinds)
        times.append(time.perf_counter() - start)
    print(f"15 columns, reference {len(reference):,} x current {len(current):,} rows: "
          f"median {statistics.median(times) * 1000:.1f} ms, best {min(times) * 1000:.1f} ms "
          f"over {args.repeats} runs")
    print(f"drifted: {report.drifted} (share {report.share:.2f})")


if __name__ == "__main__":
    main()
