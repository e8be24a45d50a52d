"""Benchmark (goals P1, P2): the wall time of one loop iteration against plain scripts.

One iteration = `iterate land WEEK.csv` (one weekly batch as it arrives) + `dvc repro` (every
stage of dvc.yaml), timed three ways in the same workspace and run, alternately:

* loop, cold: as a user, CI or `dvc exp run` runs it; every stage a fresh process (`python -m
  iterate.stages.X`) importing what it needs;
* plain, same work: ONE Python process doing the same work with the same code (the contract
  check and landing, then each stage's main() in turn; no DVC, no `dvc add`, no subprocess);
* plain, minimal: one process that reads the files, fits the estimator and scores candidate and
  production on the holdout (no contract, drift, CIs, slices, plot data or model file).

P1's ratio is loop (cold) / plain (same work): what the pipeline costs over the work itself
(goal <= 1.8). Each way is timed from the same saved state; the medians of wall time and of
CPU time (user + system of the process and its children, from os.wait4: less disturbed by other
work on the machine, though OpenMP threads spinning for a busy core inflate it) are printed.

--before DIR also times the loop and the same-work process of the code in DIR (a checkout of
another commit, e.g. `git clone -q . /tmp/before && git -C /tmp/before checkout REV`) in the
same run, alternating with this tree's, so a change is measured under the same load.

P2: the same iteration in incremental mode (SGD logistic) early (batch 4) and late (batch 40)
in the history: its time must not grow with the history (goal <= 1.2x). Beside it, a naive
single process that re-prepares the whole history (every landed batch) and refits from scratch.

    .venv/bin/python bench/bench_iteration.py [--repeats 3] [--before DIR] [--only p1|p2]
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
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import Repo  # noqa: E402
from helpers import SGD_PARAMS  # noqa: E402

SAME_WORK = r"""
import importlib, shlex, sys
from pathlib import Path
import yaml
from iterate import params
from iterate.repo import landing, store
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
import glob, pandas as pd
from sklearn.metrics import f1_score, roc_auc_score, log_loss
from iterate import params
from iterate.core import training
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
from iterate.core import training
p = params.load()
raw = sorted(glob.glob("data/raw/*.parquet"))
history = pd.concat([pd.read_parquet(f) for f in raw[:-1]])  # re-prepare everything
holdout = pd.read_parquet(raw[-1])
pipeline = training.build(p.model, p.contract)
pipeline.fit(history[p.contract.features], history[p.contract.label])
roc_auc_score(holdout[p.contract.label],
              pipeline.predict_proba(holdout[p.contract.features])[:, 1])
"""

NEXT_WEEK = r"""
import sys
import pandas as pd
from iterate import params
from iterate.core import replay
from iterate.repo import store
p = params.load()
frame = pd.read_csv(p.replay.source, dtype=str, keep_default_na=False, na_values=[""])
last = store.list_batches("data/raw")[-1].end
replay.pending(frame, p.contract.time_column, p.replay.batch_days, after=last)[0].to_csv(
    sys.argv[1], index=False)
"""

Timing = tuple[float, float]  # (wall seconds, CPU seconds)


def template_files(source: Path) -> list[str]:
    """The files a clone of the repository at ``source`` has (tracked, or new and not ignored)."""
    out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                         cwd=source, capture_output=True, text=True, check=True).stdout
    return [f for f in out.splitlines() if (source / f).is_file()]


class Workspace(Repo):
    """A temporary copy of the template at ``source`` whose commands return their time."""

    def __init__(self, root: Path, source: Path = ROOT):
        for name in template_files(source):
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source / name, root / name)
        super().__init__(root)
        self.root = root
        self.run("git", "init", "-q")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", "template")

    def run(self, *args: str, check: bool = True) -> Timing:
        start = time.perf_counter()
        child = subprocess.Popen(args, cwd=self.path, env=self.env, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE)
        err = child.stderr.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if status != 0 and check:
            raise SystemExit(f"{' '.join(args)} failed ({status}) in {self.path}\n"
                             f"{err.decode(errors='replace')}")
        return wall, usage.ru_utime + usage.ru_stime

    def history(self, through: str) -> None:
        """Land every batch up to ``through``, run the pipeline once and promote."""
        self.iterate("replay", "--through", through)
        self.dvc("repro")
        self.iterate("promote", "--force", "--reason", "benchmark baseline")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", "baseline", check=False)  # promote committed (tags)

    def next_week(self) -> Path:
        """The next weekly batch of the source, as a CSV file arriving from outside."""
        target = self.root.parent / f"{self.root.name}-week.csv"
        self.script(NEXT_WEEK, str(target))
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

    def loop_iteration(self, week: Path) -> Timing:
        return add(self.run(sys.executable, "-m", "iterate.commands.cli", "land", str(week)),
                   self.run(sys.executable, "-m", "dvc", "repro"))

    def script(self, code: str, *args: str) -> Timing:
        return self.run(sys.executable, "-c", code, *args)


def add(a: Timing, b: Timing) -> Timing:
    return a[0] + b[0], a[1] + b[1]


Way = tuple[Workspace, Callable[[Workspace, Path], Timing]]


def compare(ways: dict[str, Way], repeats: int) -> dict[str, Timing]:
    """Median wall and CPU seconds of each way, the ways alternating, each from its workspace's
    saved state (the workspace's next week not landed yet)."""
    weeks, saved = {}, {}
    for ws, _ in ways.values():
        if ws.root not in saved:
            weeks[ws.root], saved[ws.root] = ws.next_week(), ws.snapshot()
    times: dict[str, list[Timing]] = {name: [] for name in ways}
    for _ in range(repeats):
        for name, (ws, way) in ways.items():
            ws.restore(saved[ws.root])
            times[name].append(way(ws, weeks[ws.root]))
    for ws, _ in ways.values():
        ws.restore(saved[ws.root])
    return {name: (statistics.median(t[0] for t in values),
                   statistics.median(t[1] for t in values)) for name, values in times.items()}


def loop(ws: Workspace, week: Path) -> Timing:
    return ws.loop_iteration(week)


def same_work(ws: Workspace, week: Path) -> Timing:
    return ws.script(SAME_WORK, str(week))


def minimal(ws: Workspace, week: Path) -> Timing:
    return ws.script(MINIMAL)


def naive(ws: Workspace, week: Path) -> Timing:
    return add(ws.run(sys.executable, "-m", "iterate.commands.cli", "land", str(week)),
               ws.script(NAIVE))


def p1(tmp: Path, repeats: int, before: Path | None) -> None:
    full = Workspace(tmp / "full")
    full.history("2013-02-25")
    ways: dict[str, Way] = {"loop, cold": (full, loop), "plain, same work": (full, same_work),
                            "plain, minimal": (full, minimal)}
    if before is not None:
        old = Workspace(tmp / "before", before)
        old.history("2013-02-25")
        ways |= {"before: loop, cold": (old, loop), "before: plain, same work": (old, same_work)}
    times = compare(ways, repeats)
    print(f"\nP1: one iteration = land one weekly batch + dvc repro (full refit, "
          f"hist_gradient_boosting); median of {repeats}; {os.cpu_count()} cores; load "
          f"average {os.getloadavg()[0]:.1f} at the end\n")
    print(f"  {'':<26} {'wall':>8} {'CPU':>8}   wall / same work   wall / minimal")
    for name, (wall, cpu) in times.items():
        base = times["before: plain, same work" if name.startswith("before") else
                     "plain, same work"][0]
        print(f"  {name:<26} {wall:6.2f} s {cpu:6.2f} s   {wall / base:10.2f}x"
              f"   {wall / times['plain, minimal'][0]:12.2f}x")
    ratio = times["loop, cold"][0] / times["plain, same work"][0]
    cpu_ratio = times["loop, cold"][1] / times["plain, same work"][1]
    print(f"\n  P1 ratio, loop (cold) / plain (same work): {ratio:.2f} (CPU {cpu_ratio:.2f}; "
          "goal <= 1.8)")
    if before is not None:
        old_ratio = times["before: loop, cold"][0] / times["before: plain, same work"][0]
        print(f"  before ({before}): {old_ratio:.2f}")


def p2(tmp: Path, repeats: int) -> None:
    results = {}
    for label, through in (("batch 4", "2013-01-28"), ("batch 40", "2013-10-07")):
        inc = Workspace(tmp / label.replace(" ", ""))
        inc.set_params(**{**SGD_PARAMS, "train.mode": "incremental"})
        inc.history(through)
        results[label] = compare({"loop, cold": (inc, loop),
                                  "naive full re-prepare + refit": (inc, naive)}, repeats)
    print(f"\nP2: incremental (SGD logistic) iteration, early and late in the history; median "
          f"of {repeats}; wall (CPU)\n")
    for name in ("loop, cold", "naive full re-prepare + refit"):
        (early, early_cpu), (late, late_cpu) = results["batch 4"][name], results["batch 40"][name]
        print(f"  {name:<30} batch 4 {early:6.2f} s ({early_cpu:5.2f})   batch 40 {late:6.2f} s "
              f"({late_cpu:5.2f})   ratio {late / early:5.2f}")
    ratio = results["batch 40"]["loop, cold"][0] / results["batch 4"]["loop, cold"][0]
    print(f"\n  P2 ratio, incremental loop batch 40 / batch 4: {ratio:.2f} (goal <= 1.2)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--before", type=Path, metavar="DIR",
                        help="also time the code of this checkout (P1), in the same run")
    parser.add_argument("--only", choices=("p1", "p2"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "p2":
            p1(Path(tmp), args.repeats, args.before.resolve() if args.before else None)
        if args.only != "p1":
            p2(Path(tmp), args.repeats)


if __name__ == "__main__":
    main()
