"""prepare: holdout = the newest landed batch; train = the window of batches before it.

Only the files of those batches are read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pyarrow.parquet as pq

from iterate import atomic, batches, params, store
from iterate.errors import IterateError
from iterate.stages import run

PARAMS = ("split",)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="prepare", description=__doc__)
    parser.add_argument("raw", type=Path, help="folder of landed batches")
    parser.add_argument("out", type=Path,
                        help="folder for train.parquet, holdout.parquet and split.json")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)

    landed = store.list_batches(args.raw)
    try:
        split = batches.split(landed, p.split.window)
    except ValueError as exc:
        raise IterateError(f"prepare: {exc} in {args.raw}; land batches with `iterate land FILE` "
                           "or `iterate replay --next`") from None
    train_rows = sum(b.rows for b in split.train)
    if train_rows < p.split.min_train_rows:
        raise IterateError(f"prepare: {train_rows} training rows in {len(split.train)} batch(es), "
                           f"fewer than split.min_train_rows ({p.split.min_train_rows}); land "
                           "more batches or widen split.window")

    args.out.mkdir(parents=True, exist_ok=True)
    train = store.read_batches(args.raw, split.train, with_batch_id=True)
    holdout = store.read_batches(args.raw, [split.holdout], with_batch_id=True)
    atomic.write_with(args.out / "train.parquet", lambda tmp: pq.write_table(train, tmp))
    atomic.write_with(args.out / "holdout.parquet", lambda tmp: pq.write_table(holdout, tmp))
    manifest = {"train": batches.summary(split.train), "holdout": batches.summary([split.holdout])}
    atomic.write_text(args.out / "split.json", json.dumps(manifest, indent=2) + "\n")
    print(f"prepare: train {train_rows} rows from {len(split.train)} batch(es) "
          f"({manifest['train']['start']} .. {manifest['train']['end']}); holdout "
          f"{split.holdout.id} ({split.holdout.rows} rows)")


if __name__ == "__main__":
    run(main)
