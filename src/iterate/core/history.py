"""Histories kept across iterations (one row per batch, or per batch and column)."""

from __future__ import annotations

import pandas as pd


def append_new(history: pd.DataFrame | None, rows: pd.DataFrame,
               key: list[str]) -> pd.DataFrame | None:
    """``history`` with those of ``rows`` whose ``key`` it lacks appended at its end, or None
    when it has them all. Append-only: a batch judged once keeps its first rows, whatever a
    rerun of the stage on it finds (a re-pinned baseline, a changed param)."""
    if history is None or history.empty:
        return rows.reset_index(drop=True)
    known = history[key].astype(str).drop_duplicates()
    seen = rows[key].astype(str).merge(known, on=key, how="left", indicator=True)
    new = rows[(seen["_merge"] == "left_only").to_numpy()]
    if new.empty:
        return None
    return pd.concat([history, new], ignore_index=True)
