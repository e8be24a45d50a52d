"""Histories kept across iterations (one row per batch, or per batch and column)."""

from __future__ import annotations

import pandas as pd


def upsert(history: pd.DataFrame | None, rows: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """``history`` with ``rows`` added, replacing earlier rows of the same ``key`` (so running
    a stage twice on the same batch records it once), ordered by ``key``."""
    if history is None or history.empty:
        return rows.sort_values(key).reset_index(drop=True)
    kept = history.merge(rows[key].drop_duplicates(), on=key, how="left", indicator=True)
    kept = history[(kept["_merge"] == "left_only").to_numpy()]
    return pd.concat([kept, rows], ignore_index=True).sort_values(key).reset_index(drop=True)
