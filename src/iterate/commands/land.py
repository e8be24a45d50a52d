"""``iterate land`` and ``iterate replay``: new batches, checked against the data contract; each
landing pins the baseline (production as it is then) that the next ``dvc repro`` compares with.
``iterate baseline`` pins it again without new data."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import uuid
from pathlib import Path

from iterate.commands.deploy import locked
from iterate.errors import IterateError
from iterate.repo.layout import (
    BASELINE,
    QUARANTINE,
    RAW,
)


def add_parsers(sub) -> None:
    land = sub.add_parser("land", help="land batch files (CSV, CSV.gz or Parquet; a folder of "
                          "Parquet parts is one batch)")
    land.add_argument("files", nargs="+", type=Path)
    land.set_defaults(func=cmd_land)

    replay = sub.add_parser("replay", help="land batches cut from the embedded source")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--next", action="store_true", help="land the next batch")
    which.add_argument("--through", metavar="YYYY-MM-DD", help="land every batch up to this date")
    replay.set_defaults(func=cmd_replay)

    baseline = sub.add_parser("baseline", help="pin models/baseline to the production model now "
                              "(every landing does)")
    baseline.set_defaults(func=cmd_baseline)


def cmd_land(args: argparse.Namespace) -> int:
    from iterate.repo import deploy, landing, store

    with locked(args, "land") as p, contextlib.ExitStack() as stack:
        for path in args.files:
            check_input_path(path)
        landed = store.list_batches(RAW)
        client = None
        if p.compute.engine == "dask":  # each file (a folder: each part) a task on the cluster
            from iterate.repo import cluster, partitioned

            client = stack.enter_context(cluster.session(p.compute))
            staging = RAW.parent / f".land-staging-{uuid.uuid4().hex}"
            stack.callback(shutil.rmtree, staging, True)
        checked = []  # every file is checked before any is written: all land, or none
        for path in args.files:
            so_far = landed + [c.info for c in checked]
            if client is None:
                batch = landing.check(landing.read_table(path), p.contract, so_far,
                                      sha256=landing.file_sha256(path), source=str(path),
                                      raw_dir=RAW)
            else:
                batch = partitioned.check_batch(client, path, p.contract, so_far,
                                                sha256=landing.file_sha256(path), raw_dir=RAW,
                                                staging=staging / str(len(checked)))
            checked.append(batch)
        deploy.verify_production()  # refused before anything is written, not after
        for batch in checked:
            if client is None:
                landing.write(batch, RAW, QUARANTINE)
            else:
                partitioned.write_batch(batch, RAW, QUARANTINE)
            _say_landed(batch.info, batch.warnings)
        deploy.record_landing()
    return 0


def cmd_baseline(args: argparse.Namespace) -> int:
    from iterate.repo import deploy, vcs

    with locked(args, "baseline"):
        pinned = deploy.pin_baseline()
        vcs.dvc("add", "--quiet", str(BASELINE))
    say_pinned(pinned)
    return 0


def say_pinned(pinned: str) -> None:
    print(f"baseline: {pinned} -> {BASELINE}; `dvc repro` judges the candidate against it")


def check_input_path(path: Path) -> None:
    if not path.exists():
        raise IterateError(f"{path}: no such file")
    if not path.is_file() and not path.is_dir():
        raise IterateError(f"{path}: not a regular file; give the path of a CSV or Parquet file "
                           "(or a folder of Parquet parts)")


def _say_landed(info, warnings=()) -> None:
    """One line per landed batch on stdout, and one per warning of the contract on stderr."""
    from iterate.repo.landing import kept_note

    note = kept_note(info.quarantined)
    quarantined = (f", {info.quarantined} bad rows -> {QUARANTINE / (info.id + '.csv')}"
                   + (f" ({note})" if note else "") if info.quarantined else "")
    print(f"landed {info.id}: {info.rows} rows ({info.start} .. {info.end}) -> "
          f"{RAW / (info.id + '.parquet')}{quarantined}")
    for warning in warnings:
        print(f"warning: batch {info.id} ({info.source}): {warning}", file=sys.stderr)


def read_source(p) -> tuple[Path, object]:
    """``replay.source`` and its rows as text, or one line saying it is missing."""
    import pandas as pd

    source = Path(p.replay.source)
    if not source.is_file():
        raise IterateError(f"replay.source: {source} not found; restore it with `git checkout "
                           f"-- {source}` or point replay.source in params.yaml at your data")
    return source, pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])


def replay_batches(p, count: int | None = None, through: str | None = None) -> list:
    """Land up to ``count`` source batches (or every one up to ``through``); return their infos."""

    from iterate.core import replay
    from iterate.repo import deploy, landing, store

    deploy.verify_production()  # the baseline is pinned from it: refused before any landing
    source, frame = read_source(p)
    landed = store.list_batches(RAW)
    todo = replay.pending(frame, p.contract.time_column, p.replay.batch_days,
                          after=landed[-1].end if landed else None, through=through,
                          timezone=p.contract.timezone)
    infos = []
    time = p.contract.time_column
    for batch in todo[:count] if count is not None else todo:
        first, last = batch[time].iloc[0], batch[time].iloc[-1]
        landed_batch = landing.land(batch, p.contract, RAW, QUARANTINE,
                                    sha256=replay.content_sha256(batch), source=source.name,
                                    where=f"{source.name}, the batch of rows {first} .. {last}")
        _say_landed(landed_batch.info, landed_batch.warnings)
        infos.append(landed_batch.info)
    return infos


def cmd_replay(args: argparse.Namespace) -> int:
    from iterate.repo import deploy

    with locked(args, "replay") as p:
        infos = replay_batches(p, count=1 if args.next else None, through=args.through)
        if not infos:
            print(f"replay: every batch of {p.replay.source} has landed already")
            return 0
        deploy.record_landing()
    return 0
