"""What the estimate of performance before labels arrive is calibrated on, kept with each
released version: the holdout it was judged on (labelled rows it did not train on), as its
scores and labels (``calibration.parquet`` in the version's folder).

Written at promotion from the evaluate stage's inputs (the holdout's labels and the
candidate's scores of it); rollback restores it with the rest of the version's bytes. A
version's file is read from models/production, or, for an earlier version, from the DVC cache
(where promote's ``dvc add`` put it), without fetching.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from iterate.repo import scores
from iterate.repo.layout import HOLDOUT, PRODUCTION, SCORES

FILE = "calibration.parquet"
DVC_CACHE = Path(".dvc/cache/files/md5")  # DVC 3's default cache (core.cache.dir unset)


def write(folder: Path, meta: dict[str, Any]) -> bool:
    """Save the holdout's labels and the candidate's scores of it into ``folder`` (a version
    being released, ``meta`` its model.json), with the threshold its labels are predicted at;
    nothing, returning False, when the evaluate stage's inputs are absent."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    candidate = SCORES / "candidate.parquet"
    if not (HOLDOUT.is_file() and candidate.is_file()):
        return False
    label = meta["label"]
    labels = scores.column(pq.ParquetFile(HOLDOUT).read(columns=[label]), label, "int64")
    proba = scores.read(candidate, len(labels))
    if proba is None:
        return False
    table = pa.table({"score": proba, "label": labels}).replace_schema_metadata(
        {"threshold": json.dumps(meta["output"]["threshold"])})
    pq.write_table(table, folder / FILE)
    return True


def read(version: str, entry: dict[str, Any] | None, current: str | None
         ) -> tuple[np.ndarray, np.ndarray, float] | None:
    """The scores, labels and threshold kept with ``version`` (``entry``: its registry
    entry), or None."""
    import pyarrow.parquet as pq

    path = PRODUCTION / FILE if version == current else _cached(entry)
    if path is None or not path.is_file():
        return None
    table = pq.ParquetFile(path).read(columns=["score", "label"])
    threshold = float(json.loads(table.schema.metadata[b"threshold"]))
    return (scores.column(table, "score", "float64"), scores.column(table, "label", "int64"),
            threshold)


def _cached(entry: dict[str, Any] | None) -> Path | None:
    md5 = ((entry or {}).get("dvc") or {}).get("md5", "")
    listing = DVC_CACHE / md5[:2] / md5[2:]
    if not md5.endswith(".dir") or not listing.is_file():
        return None
    for item in json.loads(listing.read_text(encoding="utf-8")):
        if item.get("relpath") == FILE:
            return DVC_CACHE / item["md5"][:2] / item["md5"][2:]
    return None
