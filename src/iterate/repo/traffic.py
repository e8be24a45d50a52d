"""The embedded replay as production traffic (``labels.replay``): each source batch is scored by
production (written to the prediction log), and its labels arrive ``labels.delay`` batches
later, joined to the log as ``iterate label`` joins them; the joined rows are the batch that
lands.

The labels still to arrive wait in ``data/predictions/outcomes/`` (one file per scored batch,
oldest first): the world's truth, kept back until its time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from iterate.core import contract as contract_module
from iterate.core import outcomes as joining
from iterate.core import replay
from iterate.core.batches import BatchInfo
from iterate.params import Params
from iterate.repo import atomic, deploy, outcomes, predlog, scoring, store
from iterate.repo.layout import PREDICTIONS, RAW

OUTCOMES = PREDICTIONS / "outcomes"


def next_batch(p: Params, source: pd.DataFrame, name: str) -> BatchInfo | None:
    """Score source batches with production until ``labels.delay`` + 1 wait for their labels,
    then land the oldest one's labels, joined to the log. Returns its info (None when every
    source batch has landed)."""
    time, label = p.contract.time_column, p.contract.label
    waiting = _waiting()
    landed = store.list_batches(RAW)
    ends = [pd.Timestamp(e) for e in [landed[-1].end if landed else None,
                                      *map(_last_time, waiting)] if e]
    todo = replay.pending(source, time, p.replay.batch_days,
                          after=max(ends).isoformat() if ends else None,
                          timezone=p.contract.timezone)
    if len(waiting) <= p.labels.delay and todo:
        bundle, version = scoring.production_bundle()
        keep = scoring.logged_context(p.contract)
        for batch in todo[:p.labels.delay + 1 - len(waiting)]:
            requests = _valid(batch, p, name)  # production refuses the others: never logged
            scored, log = scoring.score(bundle, version, requests, name, keep)
            predlog.append(log)
            truth = scored[[joining.PREDICTION_ID, label, time]]
            path = OUTCOMES / f"{_stamp(truth[time], p)}.parquet"  # names sort in time order
            OUTCOMES.mkdir(parents=True, exist_ok=True)
            atomic.write_with(path, lambda tmp, truth=truth: truth.to_parquet(tmp, index=False))
            waiting.append(path)
    if not waiting:
        return None
    arrived = pd.read_parquet(waiting[0], columns=[joining.PREDICTION_ID, label])
    first, last = (pd.read_parquet(waiting[0], columns=[time])[time].agg(["min", "max"]))
    labelled = outcomes.check(arrived.assign(**{p.labels.time_column: _now()}), p,
                              sha256=replay.content_sha256(arrived), source=name,
                              where=f"{name}, the labels of the rows {first} .. {last}")
    deploy.verify_production()
    outcomes.write(labelled)
    waiting[0].unlink()
    return labelled.batch.info


def _waiting() -> list[Path]:
    """The files of labels still to arrive, oldest first; one whose labels landed already (a
    run killed before it was removed) is removed now."""
    found = sorted(OUTCOMES.glob("*.parquet")) if OUTCOMES.is_dir() else []
    done = set(outcomes.read_record([joining.PREDICTION_ID])[joining.PREDICTION_ID])
    waiting = []
    for path in found:
        ids = pd.read_parquet(path, columns=[joining.PREDICTION_ID])[joining.PREDICTION_ID]
        if len(ids) and ids.iloc[0] in done:
            path.unlink()
        else:
            waiting.append(path)
    return waiting


def _valid(batch: pd.DataFrame, p: Params, name: str) -> pd.DataFrame:
    """The rows of ``batch`` the contract accepts (as text, as they came)."""
    times = batch[p.contract.time_column]
    where = f"{name}, the batch of rows {times.iloc[0]} .. {times.iloc[-1]}"
    bad = contract_module.validate(batch, p.contract, where=where).bad["source_row"]
    return batch.drop(index=bad.to_numpy() - 1).reset_index(drop=True)


def _last_time(path: Path) -> str:
    """The latest time (ISO 8601) of the rows a file of labels still to arrive holds."""
    return Path(path).stem.replace("_", ":")


def _stamp(times: pd.Series, p: Params) -> str:
    """The latest of ``times`` as ISO 8601 that a file name can hold (``:`` as ``_``)."""
    parsed, _ = contract_module.parse_times(times, p.contract.timezone)
    return parsed.max().isoformat().replace(":", "_")


def _now() -> str:
    return datetime.now(UTC).isoformat()
