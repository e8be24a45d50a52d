"""Benchmark: `iterate serve` against calling ``predict_proba`` in the same process.

A temporary copy of the template (its own git history, as in tests/conftest.py) promotes two
versions (replay two warm-up batches, `dvc repro`, `iterate promote --force`; the next batch,
again). Then, in one run, on the same rows (the first 1 or 1,000 rows of the embedded source):

* in process: ``bundle.pipeline.predict_proba`` on the typed rows, --requests times;
* served: one client on a kept-alive connection (http.client) sends the same rows as JSON to
  `POST /predict`, --requests times: requests/s, p50 and p99 latency, and the ratios;
* shadow: the same with `--shadow` (the first version scores every request in shadow);
* swap: 1-row requests while `iterate rollback` swaps the version --swaps times, against the
  same requests without swaps (p99 of each).

The client runs on the same machine as the server (they share its cores).

    .venv/bin/python bench/bench_serve.py [--requests 400] [--swaps 4]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "src"))
from conftest import make_template_repo  # noqa: E402
from helpers import SGD_PARAMS, source_rows  # noqa: E402
from servekit import Server, json_rows  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(latencies: list[float], wall: float) -> dict[str, float]:
    return {"per_s": len(latencies) / wall, "p50_ms": 1e3 * statistics.median(latencies),
            "p99_ms": 1e3 * percentile(latencies, 0.99)}


def in_process(bundle, rows, n: int) -> dict[str, float]:
    from iterate.core import contract
    from iterate.params import Column
    from iterate.repo.scoring import SCHEMA_KEYS

    columns = {name: Column(**{k: spec.get(k) for k in SCHEMA_KEYS})
               for name, spec in bundle.meta["input_schema"].items()}
    features = contract.check_features(rows, columns, "bench")[bundle.meta["features"]]
    times = []
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        bundle.pipeline.predict_proba(features)
        times.append(time.perf_counter() - t)
    return summary(times, time.perf_counter() - start)


def served(server: Server, body: bytes, n: int, during=None) -> dict[str, float]:
    times = []
    stop = threading.Event()
    worker = None
    if during is not None:
        worker = threading.Thread(target=lambda: (during(), stop.set()))
        worker.start()
    start = time.perf_counter()
    for _ in range(n):
        t = time.perf_counter()
        status, _ = server.request("POST", "/predict", body)
        times.append(time.perf_counter() - t)
        assert status == 200, status
        if stop.is_set():  # the swaps are done
            break
    wall = time.perf_counter() - start
    if worker is not None:
        worker.join()
    return summary(times, wall)


def build(work: Path):
    repo = make_template_repo(work)
    repo.set_params(**{"replay.warmup_batches": 2, "registry.tag": False,
                       "serve.watch_seconds": 0.2, "serve.log_rows": 10_000, **SGD_PARAMS})
    repo.git("commit", "-qam", "bench settings")
    repo.iterate("replay", "--through", "2013-01-08")
    repo.dvc("repro")
    repo.iterate("promote", "--force", "--reason", "bench")
    shutil.copytree(repo.path / "models/production", work / "first")
    repo.iterate("replay", "--next")
    repo.dvc("repro")
    repo.iterate("promote", "--force", "--reason", "bench")
    return repo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--swaps", type=int, default=4)
    args = parser.parse_args()
    os.environ.setdefault("XDG_CACHE_HOME", tempfile.mkdtemp(prefix="bench-serve-cache-"))
    work = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        repo = build(work)
        os.chdir(repo.path)
        from iterate.repo import scoring

        bundle, _ = scoring.production_bundle()
        results: dict[str, dict] = {}
        sizes = {"1 row": 1, "1,000 rows": 1000}
        bodies = {k: json.dumps({"rows": json_rows(source_rows(n))}).encode()
                  for k, n in sizes.items()}
        for label, n in sizes.items():
            count = args.requests if n == 1 else max(20, args.requests // 10)
            results[f"in process, {label}"] = in_process(bundle, source_rows(n), count)
            for shadow in (False, True):
                extra = ("--shadow", str(work / "first")) if shadow else ()
                with Server(repo.path, *extra, env=repo.env) as server:
                    served(server, bodies[label], 20)  # warm up
                    results[f"served{', shadow' if shadow else ''}, {label}"] = served(
                        server, bodies[label], count)

        def swaps() -> None:
            for i in range(args.swaps):
                repo.iterate("rollback", "1.0.0" if i % 2 == 0 else "1.0.1", "--reason",
                             f"bench swap {i}")
                time.sleep(0.5)

        with Server(repo.path, env=repo.env) as server:
            served(server, bodies["1 row"], 20)
            results["served, 1 row, no swap"] = served(server, bodies["1 row"], args.requests)
            results["served, 1 row, during swaps"] = served(server, bodies["1 row"],
                                                            100 * args.requests, swaps)
        for key, r in results.items():
            print(f"{key:32s} {r['per_s']:9.1f}/s  p50 {r['p50_ms']:8.2f} ms  "
                  f"p99 {r['p99_ms']:8.2f} ms")
        for label in sizes:
            base, srv = results[f"in process, {label}"], results[f"served, {label}"]
            shadow = results[f"served, shadow, {label}"]
            print(f"{label}: served/in-process throughput {srv['per_s'] / base['per_s']:.3f}, "
                  f"p50 x{srv['p50_ms'] / base['p50_ms']:.1f}; shadow p50 "
                  f"x{shadow['p50_ms'] / srv['p50_ms']:.2f}, throughput "
                  f"x{shadow['per_s'] / srv['per_s']:.2f}")
        quiet, busy = results["served, 1 row, no swap"], results["served, 1 row, during swaps"]
        print(f"swaps ({args.swaps}): p99 x{busy['p99_ms'] / quiet['p99_ms']:.2f}, "
              f"p50 x{busy['p50_ms'] / quiet['p50_ms']:.2f}")
    finally:
        os.chdir(ROOT)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
