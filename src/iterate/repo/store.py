"""Landed batches on disk: ``data/raw/<id>.parquet``, one file per batch.

Each batch's :class:`~iterate.core.batches.BatchInfo` lives in its Parquet file's metadata, so one
atomic rename lands a batch and there is no separate index to drift out of step.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from iterate.core.batches import BatchInfo, in_order
from iterate.errors import IterateError

META_KEY = b"iterate.batch"
ROW_GROUP_ROWS = 1024 * 1024  # pyarrow's default row group length


def list_batches(raw_dir: str | Path) -> list[BatchInfo]:
    """Every landed batch, oldest first (reads only the Parquet footers)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return []
    return in_order([_info(path) for path in raw_dir.glob("*.parquet")])


def read_infos(raw_dir: str | Path, batch_ids: list[str]) -> list[BatchInfo]:
    """The named batches, oldest first (reads only their Parquet footers)."""
    return in_order([_info(batch_path(raw_dir, b)) for b in batch_ids])


def _info(path: Path) -> BatchInfo:
    meta = pq.read_schema(path).metadata or {}
    if META_KEY not in meta:
        raise IterateError(f"{path}: not a landed batch (no {META_KEY.decode()} metadata); "
                           "move it out of data/raw and land it with `iterate land`")
    return BatchInfo.from_json(meta[META_KEY])


def batch_path(raw_dir: str | Path, batch_id: str) -> Path:
    return Path(raw_dir) / f"{batch_id}.parquet"


def read_batches(raw_dir: str | Path, batches: list[BatchInfo], columns: list[str] | None = None,
                 with_batch_id: bool = False) -> pa.Table:
    """Concatenate the named batches (and only those) into one Arrow table."""
    return pa.concat_tables([_read_batch(raw_dir, b, columns, with_batch_id) for b in batches])


def write_batches(raw_dir: str | Path, batches: list[BatchInfo], path: str | Path,
                  with_batch_id: bool = False) -> None:
    """Write the named batches into one Parquet file with at most a row group in memory.

    The row groups are cut where ``pq.write_table`` cuts the concatenated batches, so the bytes
    are those of writing :func:`read_batches` in one go; a batch whose column types differ from
    the others' (e.g. an all-null column) is cast to the schema that unifies them.
    """
    schema = unified_schema(raw_dir, batches, with_batch_id)
    pending: list[pa.Table] = []
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches:
            table = _read_batch(raw_dir, batch, None, with_batch_id)
            pending.append(table if table.schema == schema else table.cast(schema))
            if sum(t.num_rows for t in pending) >= ROW_GROUP_ROWS:
                pending = _write_whole_row_groups(writer, pa.concat_tables(pending))
        if pending:
            writer.write_table(pa.concat_tables(pending), row_group_size=ROW_GROUP_ROWS)


def unified_schema(raw_dir: str | Path, batches: list[BatchInfo],
                   with_batch_id: bool = False) -> pa.Schema:
    """The schema every named batch casts to (read from the Parquet footers only)."""
    schemas = [pq.read_schema(batch_path(raw_dir, b.id)).remove_metadata() for b in batches]
    schema = pa.unify_schemas(schemas, promote_options="permissive")
    return schema.append(pa.field("batch_id", pa.string())) if with_batch_id else schema


def _read_batch(raw_dir: str | Path, batch: BatchInfo, columns: list[str] | None,
                with_batch_id: bool) -> pa.Table:
    # ParquetFile.read, not pq.read_table, and a column built from buffers, not pa.array:
    # those two import pyarrow.dataset and pandas (~0.5 s of the prepare stage's run).
    table = pq.ParquetFile(batch_path(raw_dir, batch.id)).read(columns=columns)
    if with_batch_id:
        table = table.append_column("batch_id", _repeated(batch.id, table.num_rows))
    return table.replace_schema_metadata(None)


def _repeated(value: str, rows: int) -> pa.Array:
    """A string column holding ``value`` in each of ``rows`` rows."""
    data = value.encode("utf-8")
    offsets = np.arange(rows + 1, dtype=np.int32) * len(data)
    return pa.StringArray.from_buffers(rows, pa.py_buffer(offsets), pa.py_buffer(data * rows))


def _write_whole_row_groups(writer: pq.ParquetWriter, table: pa.Table) -> list[pa.Table]:
    """Write the whole row groups of ``table``; return the rest, still to write."""
    whole = table.num_rows // ROW_GROUP_ROWS * ROW_GROUP_ROWS
    writer.write_table(table.slice(0, whole), row_group_size=ROW_GROUP_ROWS)
    return [table.slice(whole)] if whole < table.num_rows else []
