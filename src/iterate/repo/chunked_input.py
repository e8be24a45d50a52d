"""A CSV or Parquet file to score, read in chunks of at most a given number of rows (pyarrow),
so scoring holds one chunk at a time whatever the file's size.

CSV cells are read as text (empty cells as missing), as :func:`iterate.repo.landing.read_table`
reads them, so the contract sees exactly what was written.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from iterate.errors import ContractError
from iterate.repo.landing import READABLE, parts

CSV_BLOCK_BYTES = 4 << 20  # what the CSV reader decodes at a time


def chunks(path: Path, rows: int) -> Iterator[pa.RecordBatch]:
    """The rows of the file (or of a folder's Parquet parts, in name order) in order, as record
    batches of at most ``rows`` rows (none: no rows)."""
    if path.is_dir():
        for part in parts(path):
            yield from chunks(part, rows)
        return
    name = path.name.lower()
    if not name.endswith(READABLE):
        raise ContractError(f"{path}: unknown file type; give a .csv, .csv.gz or .parquet file")
    kind = "Parquet" if name.endswith((".parquet", ".pq")) else "CSV"
    try:
        batches = _parquet(path, rows) if kind == "Parquet" else _csv(path)
        for batch in batches:
            for start in range(0, batch.num_rows, rows):
                yield batch.slice(start, rows)
    except (pa.ArrowException, OSError, EOFError) as exc:
        raise ContractError(f"{path}: {_problem(exc, kind)}") from None


def _parquet(path: Path, rows: int) -> Iterator[pa.RecordBatch]:
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(path).iter_batches(batch_size=rows)


def _csv(path: Path) -> Iterator[pa.RecordBatch]:
    import pyarrow.csv as pcsv

    header = pcsv.open_csv(path, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES))
    names = header.schema.names
    header.close()
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise ContractError(f"{path}: column {repeated[0]!r} appears more than once in the "
                            "header; keep one")
    reader = pcsv.open_csv(
        path, read_options=pcsv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False),
        convert_options=pcsv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()), null_values=[""],
            strings_can_be_null=True, quoted_strings_can_be_null=True))
    yield from reader


def _problem(exc: Exception, kind: str) -> str:
    detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if "Empty CSV file" in detail:
        return "the file is empty; give a file with a header and rows"
    if "UTF8" in detail:
        return "not UTF-8 text; re-save it as UTF-8"
    return f"cannot be read as {kind} ({detail}); check the file is complete and in that format"
