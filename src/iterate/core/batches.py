"""Batches as the loop sees them: identity, time range, order, and the train/holdout split.

Pure functions over :class:`BatchInfo` records; the files live in :mod:`iterate.repo.store`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class BatchInfo:
    """What is known of one landed batch (kept in its Parquet file's metadata)."""

    id: str
    start: str  # first timestamp, ISO 8601 UTC
    end: str  # last timestamp, ISO 8601 UTC
    rows: int
    quarantined: int
    sha256: str  # of the source file's bytes (or of the replayed rows)
    source: str
    landed_at: str

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | bytes) -> BatchInfo:
        return cls(**json.loads(text))


def batch_id(start: datetime, end: datetime, precise: bool = False,
             timezone: str = "UTC") -> str:
    """Batches are named by the dates they cover (in ``timezone``, the contract's: a batch of
    Paris dates is named by them), or, when ``precise``, the UTC times, so names sort in time
    order and two batches of the same days still get different names."""
    if precise:
        fmt, zone = "%Y-%m-%dT%H%M%SZ", UTC
    else:
        fmt, zone = "%Y-%m-%d", UTC if timezone == "UTC" else ZoneInfo(timezone)
    return f"{start.astimezone(zone).strftime(fmt)}_{end.astimezone(zone).strftime(fmt)}"


def order_key(batch_id: str) -> tuple[str, ...]:
    """Sorts ids in time order: by their start, then their end (a day sorts before the times
    within it, so a precise id of a second batch of the same days sorts after the first's)."""
    return tuple(batch_id.split("_"))


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def overlapping(start: str, end: str, landed: list[BatchInfo]) -> BatchInfo | None:
    """The first landed batch whose time range meets [start, end], if any."""
    for batch in landed:
        if start <= batch.end and batch.start <= end:
            return batch
    return None


def in_order(batches: list[BatchInfo]) -> list[BatchInfo]:
    return sorted(batches, key=lambda b: (b.start, b.end, b.id))


@dataclass(frozen=True)
class Split:
    train: list[BatchInfo]
    holdout: BatchInfo


def split(batches: list[BatchInfo], window: int | str) -> Split:
    """Holdout = the newest batch; train = the ``window`` batches before it (or all of them)."""
    ordered = in_order(batches)
    if len(ordered) < 2:
        raise ValueError(f"need at least 2 landed batches (training + holdout), have "
                         f"{len(ordered)}")
    earlier = ordered[:-1]
    train = earlier if window == "all" else earlier[-int(window):]
    return Split(train=train, holdout=ordered[-1])


def summary(batches: list[BatchInfo]) -> dict[str, Any]:
    """Ids, time range and rows of a set of batches (for model metadata and the registry)."""
    ordered = in_order(batches)
    return {
        "batches": [b.id for b in ordered],
        "start": ordered[0].start if ordered else None,
        "end": ordered[-1].end if ordered else None,
        "rows": sum(b.rows for b in ordered),
    }
