"""Benchmark (goals P1, P2): the wall time of one loop iteration against plain scripts.

One iteration = `iterate land WEEK.csv` (one weekly batch as it arrives) + `dvc repro` (prepare,
drift, train, evaluate, gate), timed three ways in the same workspace and run, alternately:

* loop, warm: with the warm server up, as `iterate loop` and `iterate warm` run it;
* loop, cold: ITERATE_WARM=0, every stage a fresh process importing its libraries;
* plain, same work: ONE Python process doing the same work with the same code (the contract
  check and landing, then each stage's main() in turn; no DVC, no `dvc add`, no subprocess);
* plain, minimal: one process that reads the files, fits the estimator and scores candidate and
  production on the holdout (no contract, drift, CIs, slices, plots or model file).

P1's ratio is loop (warm) / plain (same work): what the pipeline costs over the work itself.

P2: the same iteration in incremental mode (sgd_logistic) early (batch 4) and late (batch 40)
in the history: its time must not grow with the history (goal <= 1.2x). Beside it, a naive
single process that re-prepares the whole history (every landed batch) and refits from scratch.

    .venv/bin/python bench/bench_iteration.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import Repo, template_files  # noqa: E402

SAME_WORK = r"""
import importlib, shlex, sys
from pathlib import Path
import yaml
from iterate.repo import landing
from iterate import params
from iterate.repo import store
p = params.load()
path = Path(sys.argv[1])
landed = store.list_batches("data/raw")
checked = landing.check(landing.read_table(path), p.contract, landed,
                        sha256=landing.file_sha256(path), source=str(path), raw_dir="data/raw")
landing.write(checked, "data/raw", "data/quarantine")
for stage in yaml.safe_load(open("dvc.yaml"))["stages"].values():
    words = shlex.split(stage["cmd"])
    importlib.import_module(words[2]).main(words[3:])
"""

MINIMAL = r"""
import glob, sys, pandas as pd
from sklearn.metrics import f1_score, roc_auc_score, log_loss
from iterate import params
from iterate.repo import bundles
p = params.load()
raw = sorted(glob.glob("data/raw/*.parquet"))
window = p.split.window
train = pd.concat([pd.read_parquet(f) for f in raw[-window - 1:-1]])
holdout = pd.read_parquet(raw[-1])
pipeline = training.build(p.model, p.contract)
pipeline.fit(train[p.contract.features], train[p.contract.label])
production = bundles.load("models/production").pipeline
y = holdout[p.contract.label]
for m in (pipeline, production):
    proba = m.predict_proba(holdout[p.contract.features])[:, 1]
    f1_score(y, proba >= p.model.threshold), roc_auc_score(y, proba), log_loss(y, proba)
"""

NAIVE = r"""
import glob, pandas as pd
from sklearn.metrics import roc_auc_score
from iterate import params
from iterate.repo import bundles
p = params.load()
raw = sorted(glob.glob("data/raw/*.parquet"))
history = pd.concat([pd.read_parquet(f) for f in raw[:-1]])  # re-prepare everything
holdout = pd.read_parquet(raw[-1])
pipeline = training.build(p.model, p.contract)
pipeline.fit(history[p.contract.features], history[p.contract.label])
roc_auc_score(holdout[p.contract.label],
              pipeline.predict_proba(holdout[p.contract.features])[:, 1])
"""


class Workspace(Repo):
    """A temporary copy of the template whose commands return their wall time."""

    def __init__(self, root: Path):
        for name in template_files():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
        super().__init__(root)
        self.root = root
        self.run("git", "init", "-q")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", "template")

    def run(self, *args: str, check: bool = True, env: dict | None = None) -> float:
        start = time.perf_counter()
        subprocess.run(args, cwd=self.path, env=env or self.env, check=check,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    def history(self, through: str) -> None:
        """Land every batch up to ``through``, run the pipeline once and promote."""
        self.iterate("replay", "--through", through)
        self.dvc("repro")
        self.iterate("promote", "--force", "--reason", "benchmark baseline")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", "baseline")

    def next_week(self) -> Path:
        """The next weekly batch of the source, as a CSV file arriving from outside."""
        target = self.root.parent / f"{self.root.name}-week.csv"
        code = ("import pandas as pd; from iterate import params, replay, store; "
                "p = params.load(); "
                "frame = pd.read_csv(p.replay.source, dtype=str, keep_default_na=False, "
                "na_values=['']); last = store.list_batches('data/raw')[-1].end; "
                "replay.pending(frame, p.contract.time_column, p.replay.batch_days, "
                f"after=last)[0].to_csv('{target}', index=False)")
        self.run(sys.executable, "-c", code)
        return target

    def snapshot(self) -> Path:
        """Save the workspace (before the batch lands) so each way starts from the same state."""
        saved = self.root.parent / f"{self.root.name}-saved"
        shutil.rmtree(saved, ignore_errors=True)
        shutil.copytree(self.root, saved, symlinks=True)
        return saved

    def restore(self, saved: Path) -> None:
        shutil.rmtree(self.root)
        shutil.copytree(saved, self.root, symlinks=True)

    def loop_iteration(self, week: Path, env: dict | None = None) -> float:
        return (self.run(sys.executable, "-m", "iterate.commands.cli", "land", str(week), env=env)
                + self.run(sys.executable, "-m", "dvc", "repro", env=env))

    def script(self, code: str, *args: str) -> float:
        return self.run(sys.executable, "-c", code, *args)


class WarmServer:
    """`iterate warm` beside the timed commands, as the loop runs it."""

    def __init__(self, ws: Workspace):
        self.ws = ws

    def __enter__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "iterate.commands.cli", "warm", "--idle", "900"],
            cwd=self.ws.root,
            env=self.ws.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(6)  # its imports; the loop overlaps them with landing the first batch
        return self

    def __exit__(self, *exc):
        self.process.terminate()
        self.process.wait()


def compare(ws: Workspace, repeats: int, ways: dict) -> dict[str, float]:
    """Median seconds of each way, the ways alternating, each from the same saved state."""
    week = ws.next_week()
    saved = ws.snapshot()
    times: dict[str, list[float]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, way in ways.items():
            ws.restore(saved)
            times[name].append(way(week))
    ws.restore(saved)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        full = Workspace(Path(tmp) / "full")
        full.history("2013-02-25")
        cold_env = {**full.env, "ITERATE_WARM": "0"}
        with WarmServer(full):
            p1 = compare(full, args.repeats, {
                "loop, warm": full.loop_iteration,
                "loop, cold": lambda week: full.loop_iteration(week, cold_env),
                "plain, same work": lambda week: full.script(SAME_WORK, str(week)),
                "plain, minimal": lambda week: full.script(MINIMAL),
            })

        p2 = {}
        for label, through in (("batch 4", "2013-01-28"), ("batch 40", "2013-10-07")):
            inc = Workspace(Path(tmp) / label.replace(" ", ""))
            inc.set_params(**{"model.kind": "sgd_logistic", "train.mode": "incremental"})
            inc.history(through)
            with WarmServer(inc):
                p2[label] = compare(inc, args.repeats, {
                    "loop, warm": inc.loop_iteration,
                    "naive full re-prepare + refit": lambda week, inc=inc: (
                        inc.run(sys.executable, "-m", "iterate.commands.cli", "land", str(week))
                        + inc.script(NAIVE)),
                })

    print(f"\nP1: one iteration = land one weekly batch + dvc repro (full refit, "
          f"hist_gradient_boosting); median of {args.repeats}; {os.cpu_count()} cores\n")
    base = p1["plain, same work"]
    for name, seconds in p1.items():
        print(f"  {name:<20} {seconds:6.2f} s   {seconds / base:5.2f}x same work   "
              f"{seconds / p1['plain, minimal']:5.2f}x minimal")
    print(f"\n  P1 ratio, loop (warm) / plain (same work): {p1['loop, warm'] / base:.2f} "
          "(goal <= 1.5)")
    print("\nP2: incremental (sgd_logistic) iteration, early and late in the history\n")
    for name in ("loop, warm", "naive full re-prepare + refit"):
        early, late = p2["batch 4"][name], p2["batch 40"][name]
        print(f"  {name:<32} batch 4 {early:6.2f} s   batch 40 {late:6.2f} s   "
              f"ratio {late / early:5.2f}")
    print(f"\n  P2 ratio, incremental loop batch 40 / batch 4: "
          f"{p2['batch 40']['loop, warm'] / p2['batch 4']['loop, warm']:.2f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
