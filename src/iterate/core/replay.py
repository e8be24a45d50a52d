"""Cut a history table into fixed-length time batches, as if they had arrived one by one."""

from __future__ import annotations

import hashlib

import pandas as pd


def batch_numbers(times: pd.Series, days: int) -> pd.Series:
    """Batch number of each timestamp: whole ``days``-long periods since the first midnight.

    A row whose time cannot be parsed goes with the row before it (the first rows: with the
    row after), so the contract, not the cutting, decides what to do with it.
    """
    origin = times.min().floor("D")
    numbers = (times - origin) // pd.Timedelta(days=days)
    return numbers.ffill().bfill().astype("int64")


def pending(source: pd.DataFrame, time_column: str, days: int, after: str | None,
            through: str | None = None) -> list[pd.DataFrame]:
    """The batches of ``source`` (rows as read, text) newer than ``after``, oldest first.

    ``after`` is the last landed timestamp (ISO 8601), ``through`` a date: batches starting
    later than that day are left for another time.
    """
    times = pd.to_datetime(source[time_column], format="ISO8601", utc=True, errors="coerce")
    numbers = batch_numbers(times, days)
    if after:
        fresh = times > pd.Timestamp(after)
        fresh |= times.isna() & numbers.isin(numbers[fresh].unique())
    else:
        fresh = pd.Series(True, index=source.index)
    end = pd.Timestamp(through, tz="UTC") + pd.Timedelta(days=1) if through else None
    frames = []
    for _, rows in source[fresh.to_numpy()].groupby(numbers[fresh], sort=True):
        if end is not None and times[rows.index].min() >= end:
            break
        frames.append(rows.reset_index(drop=True))
    return frames


def content_sha256(frame: pd.DataFrame) -> str:
    """A digest of a batch's rows, so replaying the same rows twice is seen as a duplicate."""
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()
