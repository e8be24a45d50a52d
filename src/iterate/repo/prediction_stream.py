"""Score a file chunk by chunk: the output CSV grows a chunk at a time, and each chunk's log
rows become one prediction-log part, so memory holds one chunk whatever the file's size.

Nothing is published until every chunk has passed the contract: the CSV is written to a
temporary file beside the output and the log parts to a hidden folder inside the log's; only
then are the parts moved into the log and the CSV over the output. A chunk that breaks the
contract stops the run with the first bad row's number in the whole file, and both temporaries
are removed.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa

from iterate.errors import ContractError
from iterate.repo import atomic, chunked_input, predlog
from iterate.repo.layout import PREDICTIONS

Score = Callable[[pd.DataFrame, str, int], tuple[pd.DataFrame, pd.DataFrame]]


def run(source: Path, out: Path, chunk_rows: int, score: Score,
        log_folder: Path = PREDICTIONS, *, name: Path | None = None, first_row: int = 0) -> int:
    """Score every row of ``source`` with ``score(frame, where, row_offset)`` (which returns
    the scored rows and their log rows) into ``out`` and the log; return the rows scored.

    ``source`` may be one partition of a dataset: messages then call it ``name`` and count
    ``first_row`` rows before it."""
    staging = log_folder / f".staging-{uuid.uuid4().hex}"
    rows = 0

    def write(tmp: str) -> None:
        nonlocal rows
        writer, schema, pending = None, None, None
        # One thread writes chunk k (CSV and log part; both release the GIL) while chunk k + 1
        # is checked and scored: at most two chunks are held.
        with ThreadPoolExecutor(max_workers=1) as thread:
            try:
                for batch in chunked_input.chunks(source, chunk_rows):
                    frame = batch.to_pandas()
                    at = first_row + rows
                    where = f"{name or source} (rows {at + 1}..{at + len(frame)})"
                    scored, log = score(frame, where, at)
                    table = _output(batch, scored)
                    if writer is None:
                        schema = table.schema
                        writer = open(tmp, "wb")  # noqa: SIM115 (closed below, after the thread)
                    if pending is not None:
                        pending.result()
                    pending = thread.submit(_write, writer, table.cast(schema), log, staging)
                    rows += len(frame)
                if pending is not None:
                    pending.result()
            finally:
                if writer is not None:
                    thread.shutdown(wait=True)
                    writer.close()
        if rows == 0:
            raise ContractError(f"{source}: no data rows; give a file with at least one row")
        _publish(staging, log_folder)

    try:
        atomic.write_with(out, write)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def _write(file, table: pa.Table, log: pd.DataFrame, staging: Path) -> None:
    file.write(_csv(table, header=file.tell() == 0))
    predlog.append(log, staging)


def _csv(table: pa.Table, header: bool) -> bytes:
    """The rows as CSV, as pandas writes it: a text cell is quoted only when it holds a comma,
    a quote or a line break (pyarrow quotes every text cell, or none)."""
    import pyarrow.compute as pc
    import pyarrow.csv as pcsv

    special = r'[,"\r\n]'
    quote = any(pc.any(pc.match_substring_regex(column, special)).as_py()
                for column in table.columns if pa.types.is_string(column.type)
                or pa.types.is_large_string(column.type))
    quote_header = any(re.search(special, name) for name in table.column_names)
    sink = io.BytesIO()
    pcsv.write_csv(table, sink, write_options=pcsv.WriteOptions(
        include_header=header, quoting_style="needed" if quote else "none",
        quoting_header="needed" if quote_header else "none"))
    return sink.getvalue()


def _output(batch: pa.RecordBatch, scored: pd.DataFrame) -> pa.Table:
    """The input columns as read (UTC times as ISO text: see :func:`_utc_text`), then the
    columns scoring added."""
    added = [c for c in scored.columns if c not in batch.schema.names]
    extra = pa.Table.from_pandas(scored[added], preserve_index=False)
    columns = [_utc_text(c) if pa.types.is_timestamp(c.type) and c.type.tz in ("UTC", "+00:00")
               else c for c in batch.columns]
    return pa.Table.from_arrays([*columns, *extra.columns], names=[*batch.schema.names, *added])


def _utc_text(column: pa.Array) -> pa.Array:
    """``2000-01-01 05:00:00.000000Z`` for each UTC time, as the CSV writer writes them, ten
    times faster: it looks the zone up per value, which UTC does not need."""
    import numpy as np
    import pyarrow.compute as pc

    text = column.cast(pa.timestamp(column.type.unit)).cast(pa.string())
    offsets = np.frombuffer(text.buffers()[1], dtype=np.int32)[text.offset:][:len(text) + 1]
    width = int(offsets[1] - offsets[0]) if len(text) else 0
    if text.null_count or not len(text) or np.any(np.diff(offsets) != width):
        return pc.binary_join_element_wise(text, "Z", "")
    data = np.frombuffer(text.buffers()[2], dtype=np.uint8)[offsets[0]:offsets[-1]]
    out = np.empty((len(text), width + 1), dtype=np.uint8)
    out[:, :width] = data.reshape(len(text), width)
    out[:, width] = ord("Z")
    return pa.Array.from_buffers(pa.string(), len(text), [
        None, pa.py_buffer(np.arange(len(text) + 1, dtype=np.int32) * (width + 1)),
        pa.py_buffer(out)])

def _publish(staging: Path, log_folder: Path) -> None:
    """Move the staged parts into the log (each move is atomic; their names keep time order)."""
    for part in sorted(staging.glob("*.parquet")):
        os.replace(part, log_folder / part.name)
