"""Benchmark (goal P3): peak memory and time of each stage as the history grows to 10M rows.

The embedded year (data/source/flights_weather_2013.csv.gz, 327k rows) is checked against the
contract once, then tiled backwards in time: copy k is the same rows with the time column moved
k whole years earlier (10M rows: 1982 .. 2012; backwards, because the contract refuses times in
the future), cut into weekly batches (`replay.batch_days`) from one origin, so the batches
arrive in time order, and truncated to whole batches at --rows (10M). Each batch is landed
into data/raw of a temporary repository (its own git history, as in tests/conftest.py) with
`landing.check` + `landing.write` in this process, as `iterate land` writes it (same columns,
dtypes and batch metadata), and `dvc add data/raw` runs once per landing round.

Measured, each stage as its own process (its `cmd` from dvc.yaml), peak RSS from GNU time
(`/usr/bin/time -f %M`, the stage's ru_maxrss):

* incremental iteration (the SGD logistic classifier, train.mode incremental, split.window 8):
  with --short (10) batches landed, then with the whole history; before each, the history
  minus its newest batch was reproduced (`dvc repro`) and promoted, then the newest batch
  landed. Stages: prepare, drift, train, evaluate, gate. Goal: <= 500 MB whatever the history.
* full refit (split.window all, train.mode full; --refit-kind, default sgd_logistic as above,
  or several, comma-separated) at 2M, 5M and the whole history: prepare and train. Goal: <= 4 GB.
  The smaller histories are the first batches, hard-linked into a folder given to prepare.

--only full skips the incremental case (and the whole history's repro and promotion); --only
incremental skips the full refits.

    .venv/bin/python bench/bench_memory.py [--rows 10000000] [--short 10] [--refit-sizes 2,5]
        [--refit-kind sgd_logistic,hist_gradient_boosting] [--only full|incremental]
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import yaml

from iterate import params
from iterate.core import contract as contract_module
from iterate.core.batches import BatchInfo
from iterate.repo import landing

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import GIT_IDENTITY, set_params, template_files  # noqa: E402
from helpers import SGD_PARAMS, hgb_model  # noqa: E402

INCREMENTAL_GOAL_MB = 500  # MB = 10^6 bytes
REFIT_GOAL_MB = 4000
STAGES = ("prepare", "drift", "train", "evaluate", "gate")
TIME = "/usr/bin/time"  # GNU time


# ---------------------------------------------------------------- the data


def tiled_batches(p: params.Params, target_rows: int) -> Iterator[pd.DataFrame]:
    """Weekly batches of the source tiled backwards by whole years, oldest first, typed as the
    contract types them, until ``target_rows`` (whole batches only)."""
    contract = p.contract
    time_col = contract.time_column
    source = pd.read_csv(ROOT / p.replay.source, dtype=str, keep_default_na=False,
                         na_values=[""])
    year = contract_module.validate(source, contract, where="source").good
    copies = math.ceil(target_rows / len(year)) + 1  # one spare: the last batch is cut short
    period = pd.Timedelta(days=p.replay.batch_days)
    origin = (year[time_col].min() - pd.DateOffset(years=copies - 1)).floor("D")
    first = year[time_col].min()
    carry = None
    emitted = 0
    for back in range(copies - 1, -1, -1):
        frame = year.copy()
        frame[time_col] = frame[time_col] - pd.DateOffset(years=back)
        if carry is not None:
            frame = pd.concat([carry, frame], ignore_index=True)
        numbers = (frame[time_col] - origin) // period
        if back:  # complete: the batches the next copy cannot add rows to
            next_start = ((first - pd.DateOffset(years=back - 1)) - origin) // period
            complete = (numbers < next_start).to_numpy()
        else:
            complete = numbers.notna().to_numpy()
        for _, rows in frame[complete].groupby(numbers[complete], sort=True):
            if emitted + len(rows) > target_rows:
                return
            emitted += len(rows)
            yield rows.reset_index(drop=True)
        carry = frame[~complete].reset_index(drop=True)


def digest(frame: pd.DataFrame) -> str:
    return hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())\
        .hexdigest()


# ---------------------------------------------------------------- the repository


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, **GIT_IDENTITY, "PYTHONPATH": str(root / "src"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        for name in template_files():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
        self.run("git", "init", "-q")
        self.dvc("remote", "modify", "--local", "local", "url", str(root.parent / "storage"))
        self.raw = root / "data/raw"
        self.quarantine = root / "data/quarantine"
        self.raw.mkdir(parents=True, exist_ok=True)
        (root / "models/baseline").mkdir(parents=True, exist_ok=True)  # the stages read it
        self.landed: list[BatchInfo] = []
        pipeline = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]
        self.commands = {name: [sys.executable if word == "python" else word
                                for word in shlex.split(stage["cmd"])]
                         for name, stage in pipeline.items()}

    def run(self, *args: str) -> str:
        result = subprocess.run(args, cwd=self.root, env=self.env, text=True,
                                capture_output=True, check=False)
        if result.returncode != 0:
            raise SystemExit(f"{' '.join(args)} exited {result.returncode}\n{result.stdout}\n"
                             f"{result.stderr}")
        return result.stdout

    def dvc(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "dvc", *args)

    def iterate(self, *args: str) -> str:
        return self.run(sys.executable, "-m", "iterate.commands.cli", *args)

    def set_params(self, changes: dict) -> None:
        set_params(self.root / "params.yaml", changes)

    def land(self, frames, contract) -> None:
        """What `iterate land` does per batch (check, then write), then one `dvc add`."""
        for frame in frames:
            checked = landing.check(frame, contract, self.landed, sha256=digest(frame),
                                    source="flights_weather_tiled.parquet", raw_dir=self.raw)
            self.landed.append(landing.write(checked, self.raw, self.quarantine))
        self.dvc("add", "--quiet", "data/raw")

    @property
    def rows(self) -> int:
        return sum(b.rows for b in self.landed)

    def measure(self, stage: str, replace: dict[str, str] | None = None) -> tuple[float, float,
                                                                                   str]:
        """Run one stage's command as its own process: (seconds, peak RSS MB, its last line).

        The peak comes from /usr/bin/time (GNU time's %M, the child's ru_maxrss): waiting for
        the stage directly is not enough, because Linux carries a process's peak RSS across
        exec, so a child forked from this big process would report this process's size. The
        stage runs cold (ITERATE_WARM=0): a warm server's child would be measured elsewhere.
        """
        argv = [(replace or {}).get(word, word) for word in self.commands[stage]]
        report = self.root.parent / "time.txt"
        start = time.perf_counter()
        result = subprocess.run([TIME, "-f", "%M", "-o", str(report), *argv], cwd=self.root,
                                env={**self.env, "ITERATE_WARM": "0"}, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        seconds = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{stage} failed ({result.returncode}):\n{result.stdout}")
        peak_kib = int(report.read_text().split()[-1])
        return seconds, peak_kib * 1024 / 1e6, result.stdout.strip().splitlines()[-1]


# ---------------------------------------------------------------- the cases


def show(row: tuple) -> None:
    case, history, stage, seconds, peak, goal, said = row
    print(f"{case:<30} {history:>12,} {stage:<9} {seconds:8.1f} {peak:9.0f} {goal:9,} "
          f"{'yes' if peak <= goal else 'NO':<5} {said}", flush=True)


def incremental(ws: Workspace, label: str, rows: list) -> None:
    """Each stage as its own process, in pipeline order (the newest batch just landed)."""
    for stage in STAGES:
        seconds, peak, said = ws.measure(stage)
        rows.append((f"incremental, {label}", ws.rows, stage, seconds, peak,
                     INCREMENTAL_GOAL_MB, said))
        show(rows[-1])


def reproduce_and_promote(ws: Workspace) -> None:
    ws.dvc("repro")
    ws.iterate("promote", "--force", "--reason", "benchmark baseline")


def refit(ws: Workspace, tmp: Path, n_batches: int, kind: str, rows: list) -> None:
    """Prepare + train with split.window all on the first ``n_batches`` landed batches (the
    smaller histories hard-linked into a folder of their own)."""
    history = ws.landed[:n_batches]
    raw = "data/raw"
    if n_batches < len(ws.landed):
        subset = tmp / f"raw-{n_batches}"
        if not subset.is_dir():  # (already linked for another kind)
            subset.mkdir()
            for b in history:
                os.link(ws.raw / f"{b.id}.parquet", subset / f"{b.id}.parquet")
        raw = str(subset)
    total = sum(b.rows for b in history)
    for stage in ("prepare", "train"):
        seconds, peak, said = ws.measure(stage, {"data/raw": raw})
        rows.append((f"full refit, all, {kind}", total, stage, seconds, peak, REFIT_GOAL_MB,
                     said))
        show(rows[-1])


def full_refits(ws: Workspace, tmp: Path, sizes: str, kind: str, rows: list) -> None:
    """Refit at each of ``sizes`` (millions of rows, comma-separated), then on the whole history."""
    cumulative = list(itertools.accumulate(b.rows for b in ws.landed))
    for size in sorted(float(s) * 1e6 for s in sizes.split(",") if s.strip()):
        n = sum(c <= size for c in cumulative) + 1  # + the holdout batch
        if n < len(ws.landed):
            refit(ws, tmp, n, kind, rows)
    refit(ws, tmp, len(ws.landed), kind, rows)


def model_params(kind: str) -> dict:
    """The set_params() changes of a --refit-kind."""
    if kind == "sgd_logistic":
        return SGD_PARAMS
    shipped = hgb_model()
    return {"model.estimator": shipped.estimator, "model.params": dict(shipped.params)}


def kinds(text: str) -> list[str]:
    names = [k.strip() for k in text.split(",") if k.strip()]
    unknown = set(names) - {"sgd_logistic", "hist_gradient_boosting"}
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown model kind(s): {', '.join(sorted(unknown))}")
    return names


HEADER = (f"{'case':<30} {'history rows':>12} {'stage':<9} {'seconds':>8} {'peak MB':>9} "
          f"{'goal MB':>9} {'met?':<5}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="history to tile up to")
    parser.add_argument("--short", type=int, default=10, help="batches in the short history")
    parser.add_argument("--refit-sizes", default="2,5",
                        help="smaller histories (millions of rows) for the full-refit trend")
    parser.add_argument("--refit-kind", default="sgd_logistic", type=kinds,
                        help="sgd_logistic, hist_gradient_boosting or both, comma-separated")
    parser.add_argument("--only", choices=("full", "incremental"),
                        help="measure only the full refits, or only the incremental iteration")
    parser.add_argument("--keep", type=Path, help="build the repository here and keep it")
    args = parser.parse_args()
    started = time.perf_counter()
    p = params.load(ROOT / "params.yaml")
    rows: list = []
    notes: list[str] = []
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="bench-memory-"))
    print(f"peak RSS of each stage run as its own process (MB = 10^6 bytes); "
          f"{os.cpu_count()} cores\n")
    print(HEADER, flush=True)
    try:
        ws = Workspace(tmp / "repo")
        ws.set_params({**SGD_PARAMS, "train.mode": "incremental",
                       "split.window": 8})
        ws.run("git", "add", "-A")
        ws.run("git", "commit", "-qm", "template, incremental SGD logistic")
        batches = tiled_batches(p, args.rows)

        # short history: land all but the newest, reproduce, promote, land the newest
        ws.land(itertools.islice(batches, args.short - 1), p.contract)
        reproduce_and_promote(ws)  # (also the monitoring file a full refit's train reads)
        ws.land(itertools.islice(batches, 1), p.contract)
        if args.only != "full":
            incremental(ws, f"{args.short} batches", rows)

        # the whole history, the same way (the newest batch held back)
        t = time.perf_counter()
        newest = []

        def all_but_newest():
            for frame in batches:
                if newest:
                    yield newest.pop()
                newest.append(frame)

        ws.land(all_but_newest(), p.contract)
        notes.append(f"landed {len(ws.landed) - args.short:,} more batches (tiled, "
                     f"landing.check + landing.write, one dvc add) in "
                     f"{time.perf_counter() - t:.0f} s")
        if args.only != "full":
            t = time.perf_counter()
            reproduce_and_promote(ws)
            notes.append(f"dvc repro + promote at {ws.rows:,} rows: "
                         f"{time.perf_counter() - t:.0f} s")
        ws.land(newest, p.contract)
        if args.only != "full":
            incremental(ws, f"{len(ws.landed)} batches", rows)

        # full refit on everything before the newest batch, at growing histories
        for kind in args.refit_kind if args.only != "incremental" else ():
            ws.set_params({"split.window": "all", "train.mode": "full", **model_params(kind)})
            full_refits(ws, tmp, args.refit_sizes, kind, rows)
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)

    print("\n" + HEADER)
    print("-" * len(HEADER))
    for row in rows:
        show(row[:-1] + ("",))
    by_case: dict[str, list] = {}
    for row in rows:
        by_case.setdefault(row[0].split(",")[0], []).append(row)
    print()
    for case, found in by_case.items():
        worst = max(found, key=lambda r: r[4])
        print(f"{case}: worst {worst[2]} {worst[4]:.0f} MB at {worst[1]:,} rows (goal "
              f"{worst[5]:,} MB): {'met' if all(r[4] <= r[5] for r in found) else 'MISSED'}")
    for note in notes:
        print(note)
    print(f"total bench time {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
