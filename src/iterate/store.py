"""Landed batches on disk: ``data/raw/<id>.parquet``, one file per batch.

Each batch's :class:`~iterate.batches.BatchInfo` lives in its Parquet file's metadata, so one
atomic rename lands a batch and there is no separate index to drift out of step.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from iterate.batches import BatchInfo, in_order
from iterate.errors import IterateError

META_KEY = b"iterate.batch"


def list_batches(raw_dir: str | Path) -> list[BatchInfo]:
    """Every landed batch, oldest first (reads only the Parquet footers)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return []
    infos = []
    for path in raw_dir.glob("*.parquet"):
        meta = pq.read_schema(path).metadata or {}
        if META_KEY not in meta:
            raise IterateError(f"{path}: not a landed batch (no {META_KEY.decode()} metadata); "
                               "move it out of data/raw and land it with `iterate land`")
        infos.append(BatchInfo.from_json(meta[META_KEY]))
    return in_order(infos)


def batch_path(raw_dir: str | Path, batch_id: str) -> Path:
    return Path(raw_dir) / f"{batch_id}.parquet"


def read_batches(raw_dir: str | Path, batches: list[BatchInfo], columns: list[str] | None = None,
                 with_batch_id: bool = False) -> pa.Table:
    """Concatenate the named batches (and only those) into one Arrow table."""
    tables = []
    for batch in batches:
        table = pq.read_table(batch_path(raw_dir, batch.id), columns=columns)
        if with_batch_id:
            table = table.append_column("batch_id", pa.array([batch.id] * table.num_rows))
        tables.append(table.replace_schema_metadata(None))
    return pa.concat_tables(tables)
