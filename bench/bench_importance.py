"""Benchmark: what permutation importance and the gaps between groups (docs/explain.md) cost
each stage that computes them: drift and train (the shuffled scores), evaluate (importance
and gaps from them).

Two workspaces from the same history (weekly batches through 2013-02-25, the first candidate
promoted, the next week landed and prepared): this tree, and a clone of revision ``--before``
(default ``main``: the code without them). Each stage's command (`python -m iterate.stages.X`
with its cmd's paths from dvc.yaml, as DVC runs it, without DVC's own start) is timed
``--repeats`` times, the two trees alternating; the medians of wall and CPU time and their
ratio (goal: each stage <= 1.5x) are printed.

    .venv/bin/python bench/bench_importance.py [--repeats 5] [--before REV]
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from bench_iteration import Timing, Workspace  # noqa: E402

STAGES = ("drift", "train", "evaluate")


def prepared(root: Path, source: Path) -> Workspace:
    """A workspace with a production model and the next week landed and prepared."""
    ws = Workspace(root, source)
    ws.history("2013-02-25")
    ws.iterate("land", str(ws.next_week()))
    ws.dvc("repro", "prepare")
    return ws


def stage_command(ws: Workspace, name: str) -> list[str]:
    words = shlex.split(yaml.safe_load((ws.root / "dvc.yaml").read_text())["stages"][name]["cmd"])
    return [sys.executable, *words[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", default="main", metavar="REV",
                        help="the revision to compare with (default: main)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        before = Path(tmp) / "before-src"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(before)], check=True)
        subprocess.run(["git", "-C", str(before), "checkout", "-q", args.before], check=True)
        trees = {"now": prepared(Path(tmp) / "now", ROOT),
                 "before": prepared(Path(tmp) / "before", before)}
        times: dict[tuple[str, str], list[Timing]] = {}
        for _ in range(args.repeats):
            for name in STAGES:
                for tree, ws in trees.items():
                    times.setdefault((name, tree), []).append(ws.run(*stage_command(ws, name)))
        print(f"\nEach stage's command, median of {args.repeats} (wall, CPU); before = "
              f"{args.before}\n")
        print(f"  {'stage':<10} {'before':>16} {'now':>16}   ratio (wall, CPU)")
        for name in STAGES:
            med = {tree: (statistics.median(t[0] for t in times[name, tree]),
                          statistics.median(t[1] for t in times[name, tree])) for tree in trees}
            (bw, bc), (nw, nc) = med["before"], med["now"]
            print(f"  {name:<10} {bw:6.2f} s {bc:6.2f} s {nw:6.2f} s {nc:6.2f} s   "
                  f"{nw / bw:5.2f}x {nc / bc:5.2f}x")


if __name__ == "__main__":
    main()
