"""Cut a history table into fixed-length time batches, as if they had arrived one by one."""

from __future__ import annotations

import hashlib

import pandas as pd


def batch_numbers(times: pd.Series, days: int) -> pd.Series:
    """Batch number of each timestamp: whole ``days``-long periods since the first midnight."""
    origin = times.min().floor("D")
    return ((times - origin) // pd.Timedelta(days=days)).astype("int64")


def pending(source: pd.DataFrame, time_column: str, days: int, after: str | None,
            through: str | None = None) -> list[pd.DataFrame]:
    """The batches of ``source`` (rows as read, text) newer than ``after``, oldest first.

    ``after`` is the last landed timestamp (ISO 8601), ``through`` a date: batches starting
    later than that day are left for another time.
    """
    times = pd.to_datetime(source[time_column], format="ISO8601", utc=True, errors="coerce")
    numbers = batch_numbers(times, days)
    fresh = times > pd.Timestamp(after) if after else pd.Series(True, index=source.index)
    frames = []
    for _, rows in source[fresh.to_numpy()].groupby(numbers[fresh], sort=True):
        if through and times[rows.index].min() > pd.Timestamp(through, tz="UTC") + pd.Timedelta(
                days=1):
            break
        frames.append(rows.reset_index(drop=True))
    return frames


def content_sha256(frame: pd.DataFrame) -> str:
    """A digest of a batch's rows, so replaying the same rows twice is seen as a duplicate."""
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()
