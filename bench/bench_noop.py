"""Benchmark (goal P4): a no-op `dvc repro` against `dvc status` in an up-to-date repository.

A temporary copy of the template (its own git history, as in tests/conftest.py) runs the loop
once: `iterate replay --through 2013-01-28`, `dvc repro`, `iterate promote`, then `dvc repro`
again (drift, train, evaluate and gate now see the production model), so every stage is up to
date. Then `dvc repro` (nothing to run) and `dvc status` are timed alternately; the medians and
their ratio are printed. Goal: no-op repro <= 1.3x status.

With --verbose it also times `dvc repro -v` once and prints the slowest gaps in DVC's debug log
(where a no-op repro spends its time).

    .venv/bin/python bench/bench_noop.py [--repeats 5] [--verbose]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import GIT_IDENTITY, template_files  # noqa: E402

GOAL = 1.3


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, **GIT_IDENTITY, "PYTHONPATH": str(root / "src"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        for name in template_files():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
        self.run("git", "init", "-q")
        self.run("dvc", "remote", "modify", "--local", "local", "url",
                 str(root.parent / "dvc-storage"), python=True)
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", "template")

    def run(self, *args: str, python: bool = False) -> tuple[float, str]:
        """Run a command (``python=True``: ``python -m ARGS[0] ...``); return (seconds, stderr)."""
        command = [sys.executable, "-m", *args] if python else list(args)
        start = time.perf_counter()
        result = subprocess.run(command, cwd=self.root, env=self.env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n"
                             f"{result.stderr}")
        return seconds, result.stdout + result.stderr

    def iterate(self, *args: str) -> float:
        return self.run("iterate.cli", *args, python=True)[0]

    def dvc(self, *args: str) -> tuple[float, str]:
        return self.run("dvc", *args, python=True)


def up_to_date(root: Path) -> Workspace:
    ws = Workspace(root)
    ws.iterate("replay", "--through", "2013-01-28")
    ws.dvc("repro")
    ws.iterate("promote")  # the first model: "no baseline yet", promotable
    ws.dvc("repro")  # drift/train/evaluate/gate depend on models/production
    ws.run("git", "add", "-A")
    ws.run("git", "commit", "-qm", "one iteration")
    seconds, out = ws.dvc("status")
    if "up to date" not in out:
        raise SystemExit(f"the pipeline is not up to date after the first iteration:\n{out}")
    return ws


def slowest_gaps(log: str, top: int = 8) -> list[tuple[float, str]]:
    """The longest pauses between consecutive timestamped lines of ``dvc -v`` output: the
    line *before* a gap names what DVC was doing during it."""
    stamp = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) (.*)$")
    entries = []
    for line in log.splitlines():
        m = stamp.match(line)
        if m:
            h, mi, s = m[1][11:].replace(",", ".").split(":")
            entries.append((int(h) * 3600 + int(mi) * 60 + float(s), m[2][:110]))
    gaps = [(b[0] - a[0], a[1]) for a, b in zip(entries, entries[1:], strict=False)]
    return sorted(gaps, reverse=True)[:top]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--verbose", action="store_true",
                        help="also show where a no-op `dvc repro -v` spends its time")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ws = up_to_date(Path(tmp) / "repo")
        ws.dvc("status")  # warm the file-system cache and DVC's site cache for both
        ws.dvc("repro")
        repro, status = [], []
        for _ in range(args.repeats):  # alternate, so background load hits both alike
            seconds, out = ws.dvc("repro")
            if "didn't change, skipping" not in out and "up to date" not in out:
                raise SystemExit(f"`dvc repro` was not a no-op:\n{out}")
            repro.append(seconds)
            status.append(ws.dvc("status")[0])
        startup = [ws.dvc("--version")[0] for _ in range(args.repeats)]
        log = ws.dvc("repro", "-v")[1] if args.verbose else ""
        clean = ws.run("git", "status", "--porcelain")[1].strip()

    r, s, v = statistics.median(repro), statistics.median(status), statistics.median(startup)
    print(f"\nup-to-date repository (5 stages, batches through 2013-01-28); median of "
          f"{args.repeats}, alternating; {os.cpu_count()} cores\n")
    print(f"{'command':<24} {'median s':>9} {'min s':>7} {'max s':>7}")
    for name, values in (("dvc repro (no-op)", repro), ("dvc status", status),
                         ("dvc --version", startup)):
        print(f"{name:<24} {statistics.median(values):9.2f} {min(values):7.2f} "
              f"{max(values):7.2f}")
    ratio = r / s
    print(f"\nno-op repro / status: {ratio:.2f} (goal <= {GOAL}): "
          f"{'met' if ratio <= GOAL else 'MISSED'}")
    print(f"beyond start-up (minus `dvc --version`): repro {r - v:.2f} s, status {s - v:.2f} s")
    if clean:
        print(f"note: the no-op repros left changes in the workspace:\n{clean}")
    if args.verbose:
        print("\nslowest gaps in `dvc repro -v` (seconds, the line before the gap):")
        for gap, line in slowest_gaps(log):
            print(f"  {gap:6.3f}  {line}")


if __name__ == "__main__":
    main()
