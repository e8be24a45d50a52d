"""Benchmark (issue P5): `iterate backtest` of the embedded data's 52 weekly batches x the five
policies, against the goal of 60 s on a 2-core machine.

Runs the command as a user would (`iterate backtest --params PATH`, a new process:
imports, reading and validating the source, the replay, the JSON, CSVs and PNG) in a temporary
folder, with params.yaml's settings and the source's absolute path; ``--jobs`` sets
``backtest.jobs`` (worker processes fitting ahead; 0 = everything in one process), several values
are run one after the other. Prints, per run, a table (policy, fits, fit seconds, rows trained,
mean ROC AUC), the phases, the wall and CPU time (the command's process and its workers) and the
load average, since a busy machine slows the wall time and not the CPU time.

    .venv/bin/python bench/bench_backtest.py [--jobs 0 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 60.0


def run_once(jobs: int | None, folder: Path) -> tuple[dict, float, float]:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    raw["replay"]["source"] = str(ROOT / raw["replay"]["source"])
    if jobs is not None:
        raw.setdefault("backtest", {})
        raw["backtest"] = {**(raw["backtest"] or {}), "jobs": jobs}
    params = folder / "params.yaml"
    params.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    env = {**os.environ,  # this checkout's code, whatever the environment's install points at
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"),
                                                       os.environ.get("PYTHONPATH")]))}
    subprocess.run([sys.executable, "-m", "iterate.commands.backtest", "--params", str(params)],
                   cwd=folder, env=env, check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    summary = json.loads((folder / "metrics/backtest.json").read_text(encoding="utf-8"))
    return summary, wall, cpu


def table(summary: dict) -> str:
    header = ["policy", "fits", "fit s (CPU)", "rows trained", "mean ROC AUC"]
    body = []
    for name, info in summary["policies"].items():
        fits = 1 + info["refits"] + info["partial_fits"]
        kind = f"{fits} (1 + {info['partial_fits']} partial)" if info["partial_fits"] else str(fits)
        body.append([name, kind, f"{info['fit_seconds']:.1f}", f"{info['rows_trained']:,}",
                     f"{info['mean']['roc_auc']:.3f}"])
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in [header, *body]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="*", default=[0, 2],
                        help="backtest.jobs values to run (default: 0 2)")
    args = parser.parse_args()
    for jobs in args.jobs:
        load = os.getloadavg()[0]
        with tempfile.TemporaryDirectory(prefix="bench-backtest-") as tmp:
            summary, wall, cpu = run_once(jobs, Path(tmp))
        b, c, s = summary["batches"], summary["compute"], summary["seconds"]
        print(f"== backtest.jobs: {jobs}  ({b['total']} batches of {summary['batch_days']} days, "
              f"{b['scored']} scored, {len(summary['policies'])} policies, "
              f"{summary['settings']['model']})")
        print(table(summary))
        print(f"distinct full fits {c['distinct_fits']} ({c['fitted_ahead']} in worker "
              f"processes); phases: read {s['read']:.1f} s, cut + validate "
              f"{s['cut_and_validate']:.1f} s, replay {s['replay']:.1f} s")
        verdict = "meets" if wall <= GOAL_SECONDS else "MISSES"
        print(f"total wall time {wall:.1f} s ({verdict} the {GOAL_SECONDS:.0f} s goal); CPU "
              f"{cpu:.1f} s; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after "
              f"on {os.cpu_count()} cores\n")


if __name__ == "__main__":
    main()
