"""prepare: holdout = the newest landed batch; train = the window of batches before it.

Only the files of those batches are read, one batch at a time.
"""

from __future__ import annotations

import argparse
import json
from functools import partial
from pathlib import Path

from iterate import params
from iterate.core import batches
from iterate.errors import IterateError
from iterate.repo import atomic
from iterate.stages import run

PARAMS = ("split",)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="prepare", description=__doc__)
    parser.add_argument("raw", type=Path, help="folder of landed batches")
    parser.add_argument("out", type=Path,
                        help="folder for train.parquet, holdout.parquet and split.json")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)
    from iterate.repo import store

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
    for name, chosen in (("train", split.train), ("holdout", [split.holdout])):
        atomic.write_with(args.out / f"{name}.parquet",
                          partial(store.write_batches, args.raw, chosen, with_batch_id=True))
    manifest = {"train": batches.summary(split.train), "holdout": batches.summary([split.holdout])}
    atomic.write_text(args.out / "split.json", json.dumps(manifest, indent=2) + "\n")
    print(f"prepare: train {train_rows} rows from {len(split.train)} batch(es) "
          f"({manifest['train']['start']} .. {manifest['train']['end']}); holdout "
          f"{split.holdout.id} ({split.holdout.rows} rows)")


if __name__ == "__main__":
    run(main)
