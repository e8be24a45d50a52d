"""Cut a history table into fixed-length time batches, as if they had arrived one by one."""

from __future__ import annotations

import hashlib

import pandas as pd

from iterate.core.contract import parse_times


def batch_numbers(times: pd.Series, days: int, timezone: str = "UTC") -> pd.Series:
    """Batch number of each timestamp: whole ``days``-long periods since the first midnight
    (of ``timezone``: a batch of days starts at that zone's midnight).

    A row whose time cannot be parsed goes with the row before it (the first rows: with the
    row after), so the contract, not the cutting, decides what to do with it.
    """
    wall = times.dt.tz_convert(timezone).dt.tz_localize(None)
    origin = wall.min().floor("D")
    numbers = (wall - origin) // pd.Timedelta(days=days)
    return numbers.ffill().bfill().astype("int64")


def pending(source: pd.DataFrame, time_column: str, days: int, after: str | None,
            through: str | None = None, timezone: str = "UTC") -> list[pd.DataFrame]:
    """The batches of ``source`` (rows as read, text) newer than ``after``, oldest first.

    ``after`` is the last landed timestamp (ISO 8601), ``through`` a date (in ``timezone``, as
    are the source's zone-less times): batches starting later than that day are left for
    another time.
    """
    times, _ = parse_times(source[time_column], timezone)
    numbers = batch_numbers(times, days, timezone)
    if after:
        fresh = times > pd.Timestamp(after)
        fresh |= times.isna() & numbers.isin(numbers[fresh].unique())
    else:
        fresh = pd.Series(True, index=source.index)
    end = pd.Timestamp(through, tz=timezone) + pd.Timedelta(days=1) if through else None
    frames = []
    for _, rows in source[fresh.to_numpy()].groupby(numbers[fresh], sort=True):
        if end is not None and times[rows.index].min() >= end:
            break
        frames.append(rows.reset_index(drop=True))
    return frames


def content_sha256(frame: pd.DataFrame) -> str:
    """A digest of a batch's rows, so replaying the same rows twice is seen as a duplicate."""
    return hashlib.sha256(frame.to_csv(index=False).encode("utf-8")).hexdigest()
