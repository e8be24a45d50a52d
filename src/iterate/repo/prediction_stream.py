"""Score a file chunk by chunk: the output CSV grows a chunk at a time, and each chunk's log
rows become one prediction-log part, so memory holds one chunk whatever the file's size.

Nothing is published until every chunk has passed the contract: the CSV is written to a
temporary file beside the output and the log parts to a hidden folder inside the log's; only
then are the parts moved into the log and the CSV over the output. A chunk that breaks the
contract stops the run with the first bad row's number in the whole file, and both temporaries
are removed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pyarrow as pa

from iterate.errors import ContractError
from iterate.repo import atomic, chunked_input, predlog
from iterate.repo.layout import PREDICTIONS

Score = Callable[[pd.DataFrame, str, int], tuple[pd.DataFrame, pd.DataFrame]]


def run(source: Path, out: Path, chunk_rows: int, score: Score,
        log_folder: Path = PREDICTIONS) -> int:
    """Score every row of ``source`` with ``score(frame, where, row_offset)`` (which returns
    the scored rows and their log rows) into ``out`` and the log; return the rows scored."""
    staging = log_folder / f".staging-{uuid.uuid4().hex}"
    rows = 0

    def write(tmp: str) -> None:
        nonlocal rows
        writer = schema = None
        try:
            for batch in chunked_input.chunks(source, chunk_rows):
                frame = batch.to_pandas()
                where = f"{source} (rows {rows + 1}..{rows + len(frame)})"
                scored, log = score(frame, where, rows)
                table = _output(batch, scored)
                if writer is None:
                    schema = table.schema
                    writer = _csv_writer(tmp, schema)
                writer.write_table(table.cast(schema))
                predlog.append(log, staging)
                rows += len(frame)
        finally:
            if writer is not None:
                writer.close()
        if rows == 0:
            raise ContractError(f"{source}: no data rows; give a file with at least one row")
        _publish(staging, log_folder)

    try:
        atomic.write_with(out, write)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return rows


def _output(batch: pa.RecordBatch, scored: pd.DataFrame) -> pa.Table:
    """The input columns as read, then the columns scoring added."""
    added = [c for c in scored.columns if c not in batch.schema.names]
    extra = pa.Table.from_pandas(scored[added], preserve_index=False)
    return pa.Table.from_arrays([*batch.columns, *extra.columns],
                                names=[*batch.schema.names, *added])

def _csv_writer(path: str, schema: pa.Schema):
    import pyarrow.csv as pcsv

    return pcsv.CSVWriter(path, schema, write_options=pcsv.WriteOptions(quoting_style="needed"))


def _publish(staging: Path, log_folder: Path) -> None:
    """Move the staged parts into the log (each move is atomic; their names keep time order)."""
    for part in sorted(staging.glob("*.parquet")):
        os.replace(part, log_folder / part.name)
