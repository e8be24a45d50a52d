"""Benchmark: compare() CIs vs a brute-force paired row bootstrap on a 300,000-row holdout.

Run: ``PYTHONPATH=src .venv/bin/python bench/bench_ci.py``

The brute force resamples rows with replacement and recomputes every metric of both models
per resample. It is timed on BRUTE_TIMED resamples and extrapolated linearly to 1,000; its CI
ends (for the side-by-side check) use BRUTE_CI resamples, the first BRUTE_TIMED included.
"""

import statistics
import time

import numpy as np

from iterate.core.evaluate import METRICS, compare, score

N_ROWS = 300_000
RESAMPLES = 1_000
BRUTE_TIMED = 50
BRUTE_CI = 300
THRESHOLD = 0.3
GOAL_SECONDS = 0.5
SEED = 20240601


def holdout(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels (base rate ~0.24) and two correlated models' probabilities."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.24).astype(np.int64)
    shared = rng.standard_normal(n)
    s_c = 1.25 * y + shared + 0.5 * rng.standard_normal(n) - 1.3
    s_p = 1.15 * y + shared + 0.6 * rng.standard_normal(n) - 1.3
    return y, 1.0 / (1.0 + np.exp(-s_c)), 1.0 / (1.0 + np.exp(-s_p))


def brute_force(y, pc, pp, resamples: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Per-resample deltas (candidate - production) of every metric, one row resample at a time."""
    deltas = {m: np.empty(resamples) for m in METRICS}
    n = y.size
    for r in range(resamples):
        idx = rng.integers(0, n, n)
        yb = y[idx]
        sc, sp = score(yb, pc[idx], THRESHOLD), score(yb, pp[idx], THRESHOLD)
        for m in METRICS:
            deltas[m][r] = sc[m] - sp[m]
    return deltas


def main() -> None:
    t_start = time.perf_counter()
    y, pc, pp = holdout(N_ROWS, SEED)
    compare(y, pc, pp, THRESHOLD, resamples=RESAMPLES)  # warm-up
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        fast = compare(y, pc, pp, THRESHOLD, resamples=RESAMPLES, seed=0)
        runs.append(time.perf_counter() - t0)
    fast_s = statistics.median(runs)

    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    timed = brute_force(y, pc, pp, BRUTE_TIMED, rng)
    brute_s = (time.perf_counter() - t0) * RESAMPLES / BRUTE_TIMED
    extra = brute_force(y, pc, pp, BRUTE_CI - BRUTE_TIMED, rng)
    brute = {m: np.concatenate([timed[m], extra[m]]) for m in METRICS}

    print(f"holdout: {N_ROWS:,} rows, base rate {y.mean():.3f}, threshold {THRESHOLD}, 95% CIs")
    print()
    print(f"{'method':<58} {'seconds':>9} {'ratio':>8}")
    print(
        f"{'compare(): multinomial + DeLong + normal (median of 5)':<58} {fast_s:>9.3f} {1:>8.1f}"
    )
    label = f"brute-force row bootstrap ({BRUTE_TIMED} run, extrapolated to {RESAMPLES:,})"
    print(f"{label:<58} {brute_s:>9.1f} {brute_s / fast_s:>8.0f}")
    met = "MET" if fast_s <= GOAL_SECONDS else "NOT MET"
    print(f"goal: all CIs for {N_ROWS:,} rows in <= {GOAL_SECONDS} s -> {met} ({fast_s:.3f} s)")
    print()
    print(f"delta CI ends (candidate - production); brute force with {BRUTE_CI} resamples")
    print(
        f"{'metric':<10} {'value':>10} {'fast low':>10} {'fast high':>10} "
        f"{'brute low':>10} {'brute high':>10}"
    )
    for m in ("f1", "roc_auc", "accuracy", "log_loss"):
        d = fast[m].delta
        lo, hi = np.quantile(brute[m], [0.025, 0.975])
        print(
            f"{m:<10} {d.value:>10.5f} {d.ci_low:>10.5f} {d.ci_high:>10.5f} {lo:>10.5f} {hi:>10.5f}"
        )
    print()
    print(f"bench total {time.perf_counter() - t_start:.1f} s")


if __name__ == "__main__":
    main()
