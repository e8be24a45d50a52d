"""Benchmark (goal: cost flat in the history): an incremental iteration late in a long history
against one early in it.

A history of daily batches is built in a temporary copy of the template (SGD logistic,
``train.mode: incremental``): batches cut from the embedded source (``--rows`` rows of one day
each, shifted so that day ``d`` of the history is ``2013-01-01 + d``), landed as
``iterate land`` lands them; the pipeline run and promoted once; then a registry and the
monitoring histories as long as the history, as that many incremental promotions leave them.
One iteration is what the loop does for a new day: ``iterate land DAY.csv``, ``dvc repro``
and ``iterate promote``, timed (wall) after one untimed iteration, at batch 10 and at batch
1,000. Besides, the history-bound steps on their own: listing the landed batches, and reading
and writing the registry.

    .venv/bin/python bench/bench_history.py [--late 1000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import Repo, template_files  # noqa: E402
from helpers import SGD_PARAMS  # noqa: E402

from iterate import params  # noqa: E402
from iterate.repo import landing, registry, store  # noqa: E402

DAY = pd.Timedelta(days=1)


class History(Repo):
    """A temporary copy of the template whose history is ``days`` daily batches long."""

    def __init__(self, root: Path, source: pd.DataFrame, rows: int):
        import shutil

        for name in template_files():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
        super().__init__(root)
        self.root, self.source, self.rows = root, source, rows
        self.set_params(**{**SGD_PARAMS, "train.mode": "incremental",
                           "split.window": 8, "split.min_train_rows": 100})
        self.git("init", "-q")
        self.git("add", "-A")
        self.git("commit", "-qm", "template")
        self.days = 0

    def day(self, d: int) -> pd.DataFrame:
        """Day ``d`` of the history: the rows of a source day, moved to 2013-01-01 + d."""
        times = pd.to_datetime(self.source["time_hour"])
        days = times.dt.normalize()
        first = days.min()
        chosen = days == first + (d % 360) * DAY
        frame = self.source[chosen].head(self.rows).copy()
        moved = pd.to_datetime(frame["time_hour"]) + (d - d % 360) * DAY
        frame["time_hour"] = moved.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
        return frame

    def land_days(self, count: int) -> None:
        """Land the next ``count`` days in this process, as `iterate land` writes them."""
        p = params.load(self.root / "params.yaml")
        raw, quarantine = self.root / "data/raw", self.root / "data/quarantine"
        landed = store.list_batches(raw)
        for d in range(self.days, self.days + count):
            frame = self.day(d)
            checked = landing.check(frame, p.contract, landed[-1:], sha256=f"day-{d}",
                                    source=f"day-{d}.csv", raw_dir=raw)
            landed.append(landing.write(checked, raw, quarantine))
        self.days += count
        (self.root / "models/production").mkdir(parents=True, exist_ok=True)  # as land makes it

    def lengthen_records(self) -> None:
        """The registry and monitoring histories as long as the batch history: one incremental
        promotion (and one monitoring row) per earlier batch, copied from the real ones."""
        path = self.root / "models/registry.yaml"
        entries = registry.parse(path.read_text(encoding="utf-8"))
        real = entries[0]
        ids = [b.id for b in store.list_batches(self.root / "data/raw")]
        older = []
        for k, batch in enumerate(ids[:-len(entries) - 1]):
            entry = copy.deepcopy(real)
            entry["version"] = f"1.0.{k}"
            entry["train_mode"] = "incremental"
            entry["training_data"] = {**entry["training_data"], "batches": [batch],
                                      "seen": {"first": ids[0], "last": batch, "count": k + 1}}
            older.append(entry)
        for k, entry in enumerate(entries):
            entry["version"] = f"1.0.{len(older) + k}"
        path.write_text(registry.dump([*older, *entries], "model"), encoding="utf-8")
        for name, key in (("performance.csv", "batch"), ("drift.csv", "batch")):
            csv = self.root / "plots/monitor" / name
            rows = pd.read_csv(csv)
            copies = [rows.assign(**{key: b, "start": b[:10]}) for b in ids[:-len(entries) - 1]]
            pd.concat([*copies, rows], ignore_index=True).to_csv(csv, index=False)

    def seconds(self, *args: str) -> float:
        start = time.perf_counter()
        subprocess.run(args, cwd=self.root, env=self.env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    def iteration(self) -> float:
        """The loop's iteration for the next day: land its CSV, dvc repro, promote, commit."""
        csv = self.root.parent / f"{self.root.name}-day-{self.days}.csv"
        self.day(self.days).to_csv(csv, index=False)
        self.days += 1
        cli = (sys.executable, "-m", "iterate.commands.cli")
        took = (self.seconds(*cli, "land", str(csv))
                + self.seconds(sys.executable, "-m", "dvc", "repro", "--quiet")
                + self.seconds(*cli, "promote", "--force", "--reason", "benchmark"))
        self.git("add", "-A")
        self.git("commit", "-qm", f"day {self.days}")
        return took


def build(root: Path, source: pd.DataFrame, rows: int, days: int) -> History:
    history = History(root, source, rows)
    history.land_days(days - 1)
    history.dvc("add", "--quiet", "data/raw")
    history.dvc("repro", "--quiet")
    history.iterate("promote", "--force", "--reason", "benchmark start")
    history.iteration()  # untimed: DVC hashes the landed files; monitoring starts its history
    history.lengthen_records()
    history.git("add", "-A")
    history.git("commit", "-qm", "history")
    return history


def history_bound(history: History, repeats: int) -> dict[str, float]:
    """Milliseconds of the steps that read the whole history, in this process."""
    raw, path = history.root / "data/raw", history.root / "models/registry.yaml"
    steps = {
        "list every landed batch": lambda: store.list_batches(raw),
        "read + write the registry": lambda: registry.dump(
            registry.parse(path.read_text(encoding="utf-8")), "model"),
    }
    out = {}
    for name, step in steps.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            step()
            times.append(time.perf_counter() - start)
        out[name] = 1000 * statistics.median(times)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--early", type=int, default=10)
    parser.add_argument("--late", type=int, default=1000)
    parser.add_argument("--rows", type=int, default=120, help="rows of each daily batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    source = pd.read_csv(ROOT / "data/source/flights_weather_2013.csv.gz", dtype=str,
                         keep_default_na=False, na_values=[""])
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for days in (args.early, args.late):
            start = time.perf_counter()
            history = build(Path(tmp) / f"h{days}", source, args.rows, days)
            built = time.perf_counter() - start
            print(f"batch {days}: history built in {built:.0f} s", flush=True)
            timed = []
            for _ in range(args.repeats):
                timed.append(history.iteration())
                print(f"batch {days}: iteration {timed[-1]:.2f} s", flush=True)
            registry_kb = (history.root / "models/registry.yaml").stat().st_size / 1024
            results[days] = {"iteration": statistics.median(timed), "built": built,
                             "registry_kb": registry_kb, **history_bound(history, 5)}
    early, late = results[args.early], results[args.late]
    print(f"\nincremental iteration (land + dvc repro + promote) of a daily batch of "
          f"{args.rows} rows; median of {args.repeats}\n")
    for days, r in results.items():
        print(f"  batch {days:>5}: {r['iteration']:6.2f} s   registry {r['registry_kb']:7.1f} KB"
              f"   list batches {r['list every landed batch']:7.1f} ms   registry read+write "
              f"{r['read + write the registry']:7.1f} ms   (history built in {r['built']:.0f} s)")
    print(f"\n  ratio batch {args.late} / batch {args.early}: "
          f"{late['iteration'] / early['iteration']:.2f} (goal <= 1.2)")


if __name__ == "__main__":
    main()
