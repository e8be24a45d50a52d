"""The prediction log: what production scored, append-only, one Parquet part per flush.

A part is written to a temporary file and moved into place (:func:`atomic.write_with`), so a
killed writer leaves no torn part: at most the rows it had not flushed are lost. Every row has
a ``prediction_id`` (the key an outcome that arrives later is joined on), the time it was
scored, the version that scored it, the model's typed input features and its score.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from itertools import count
from pathlib import Path

import numpy as np
import pandas as pd

from iterate.repo import atomic
from iterate.repo.layout import PREDICTIONS

PREDICTION_ID = "prediction_id"
SCORED_AT = "scored_at"
VERSION = "model_version"
SCORE = "score"
_sequence = count()


def new_ids(n: int) -> list[str]:
    """``n`` fresh prediction IDs (random version-4 UUIDs in hex, as ``uuid.uuid4().hex``:
    unique across processes and machines), made in bulk from ``os.urandom``."""
    raw = np.frombuffer(os.urandom(16 * n), dtype=np.uint8).reshape(n, 16).copy()
    raw[:, 6] = raw[:, 6] & 0x0F | 0x40  # the version (4)
    raw[:, 8] = raw[:, 8] & 0x3F | 0x80  # the variant (RFC 4122)
    return np.frombuffer(raw.tobytes().hex().encode("ascii"), dtype="S32").astype(str).tolist()


def rows(features: pd.DataFrame, score, version: str, ids: list[str],
         scored_at: datetime | None = None) -> pd.DataFrame:
    """The log's rows for ``features`` scored ``score`` by ``version``."""
    when = pd.Timestamp(scored_at or datetime.now(UTC))
    head = pd.DataFrame({PREDICTION_ID: ids, SCORED_AT: when, VERSION: version},
                        index=features.index)
    return pd.concat([head, features, pd.Series(score, index=features.index, name=SCORE)],
                     axis=1)


def append(log: pd.DataFrame, folder: Path = PREDICTIONS) -> Path | None:
    """Write ``log`` as one new part (nothing when it is empty); its name sorts in time order
    and names the versions it holds (one per part, the usual case: ``..._v1.0.3.parquet``)."""
    if log.empty:
        return None
    versions = sorted(log[VERSION].astype(str).unique())
    now = datetime.now(UTC)
    path = folder / (f"{now:%Y%m%dT%H%M%S%fZ}_{os.getpid()}_{next(_sequence):06d}"
                     f"_v{'+'.join(versions)}.parquet")
    atomic.write_with(path, lambda tmp: log.to_parquet(tmp, index=False))
    return path


def parts(version: str | None = None, folder: Path = PREDICTIONS) -> list[Path]:
    """The log's parts in time order; of one version only when ``version`` is given."""
    found = sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))
    if version is None:
        return found
    return [p for p in found if version in p.stem.rsplit("_v", 1)[-1].split("+")]


def read(version: str | None = None, folder: Path = PREDICTIONS,
         columns: list[str] | None = None) -> pd.DataFrame:
    """The log's rows (of ``version`` only, when given), in time order."""
    found = parts(version, folder)
    if not found:
        return pd.DataFrame(columns=columns or [PREDICTION_ID, SCORED_AT, VERSION, SCORE])
    frame = pd.concat([pd.read_parquet(p, columns=columns) for p in found], ignore_index=True)
    if version is not None and VERSION in frame:
        frame = frame[frame[VERSION].astype(str) == version].reset_index(drop=True)
    return frame
