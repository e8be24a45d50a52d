"""Land a batch: read it, check it against the contract, write its good rows to
``data/raw/<id>.parquet`` and its bad rows to ``data/quarantine/<id>.csv`` with a reason each.

Nothing is written unless the whole batch is accepted, and the input file is only read.
"""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from iterate.core.batches import BatchInfo, batch_id, iso, overlapping
from iterate.core.contract import validate
from iterate.errors import ContractError
from iterate.params import Contract
from iterate.repo import atomic
from iterate.repo.store import META_KEY, batch_path, list_batches

READABLE = (".csv", ".csv.gz", ".parquet", ".pq")
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
# The quarantine is for people to read (and git keeps it): at most this many bad rows, each
# cell (the reason too, which quotes the bad value) cut to this many characters.
QUARANTINE_ROWS = 1000
CELL_CHARS = 1000


def file_sha256(path: Path) -> str:
    """The file's SHA-256; a folder's: of its parts' names and SHA-256s, in order."""
    if path.is_dir():
        listing = "".join(f"{p.name}\0{file_sha256(p)}\n" for p in parts(path))
        return hashlib.sha256(listing.encode()).hexdigest()
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# CSV is read as text, so the contract sees exactly what was written (the server reads it too)
CSV_OPTIONS = {"dtype": str, "keep_default_na": False, "na_values": [""],
               "encoding": "utf-8", "encoding_errors": "strict", "engine": "c"}


def parts(path: Path) -> list[Path]:
    """The files of a dataset: ``path`` itself, or a folder's Parquet files (``*.parquet``,
    ``*.pq``; hidden ones skipped) in name order, each one partition."""
    if not path.is_dir():
        return [path]
    found = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith((".", "_"))
                   and p.name.lower().endswith((".parquet", ".pq")))
    if not found:
        raise ContractError(f"{path}: a folder without Parquet files (*.parquet); give a folder "
                            "of Parquet parts, or a CSV or Parquet file")
    return found


@contextmanager
def staged_parts(staging: Path, name: str, tables: dict[str, pa.Table],
                 parts: int) -> Iterator[Path]:
    """Tables held in memory as Parquet parts a cluster's workers read: each table split into
    ``parts`` files (the first written even when empty) in ``staging/.NAME-<random>/KEY`` (the
    folder itself for key ``""``); the folder removed when the block ends."""
    import shutil
    import uuid

    import numpy as np

    folder = staging / f".{name}-{uuid.uuid4().hex}"
    try:
        for key, table in tables.items():
            target = folder / key if key else folder
            target.mkdir(parents=True, exist_ok=True)
            bounds = np.linspace(0, table.num_rows, max(parts, 1) + 1).astype(int)
            for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
                if b > a or i == 0:
                    pq.write_table(table.slice(a, b - a), target / f"part-{i:05d}.parquet")
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def part_rows(path: Path) -> int:
    """A Parquet file's rows, from its footer (nothing else is read)."""
    try:
        return pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as exc:
        raise ContractError(f"{path}: cannot be read as Parquet ({_first_line(exc)}); check "
                            "the file is complete and in that format") from None


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def read_table(path: Path):
    """Read a CSV (as text, so the contract sees exactly what was written) or Parquet file, or
    a folder of Parquet parts (:func:`parts`) as one table."""
    if path.is_dir():
        return pd.concat([read_table(part) for part in parts(path)], ignore_index=True)
    name = path.name.lower()
    if not name.endswith(READABLE):
        raise ContractError(f"{path}: unknown file type; land a .csv, .csv.gz or .parquet file")
    try:
        if name.endswith((".parquet", ".pq")):
            return pd.read_parquet(path)
        options = CSV_OPTIONS
        header = pd.read_csv(path, header=None, nrows=1, **options).iloc[0].tolist()
        repeated = sorted({str(h) for h in header if header.count(h) > 1})
        if repeated:
            raise ContractError(f"{path}: column {repeated[0]!r} appears more than once in the "
                                "header; keep one")
        return pd.read_csv(path, on_bad_lines="error", **options)
    except pd.errors.EmptyDataError:
        raise ContractError(f"{path}: the file is empty; land a file with a header and rows")\
            from None
    except UnicodeDecodeError:
        raise ContractError(f"{path}: not UTF-8 text ({_first_bad_byte(path)}); re-save it as "
                            "UTF-8") from None
    except (pd.errors.ParserError, ValueError, OSError, EOFError, gzip.BadGzipFile,
            zlib.error, pa.ArrowException) as exc:
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ContractError(f"{path}: cannot be read as {_kind(name)} ({detail}); check the "
                            "file is complete and in that format") from None


def _first_bad_byte(path: Path) -> str:
    """Where the first byte that is not UTF-8 is: its offset in the (decompressed) file and
    its line."""
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        return f"byte {exc.start}, line {line}"
    return "somewhere"


def _kind(name: str) -> str:
    return "Parquet" if name.endswith((".parquet", ".pq")) else "CSV"


@dataclass(frozen=True)
class Checked:
    """A batch that passed every check and is ready to be written."""

    info: BatchInfo
    good: pd.DataFrame
    bad: pd.DataFrame
    warnings: tuple[str, ...] = ()  # the contract's remarks that did not refuse it


def check(frame: pd.DataFrame, contract: Contract, landed: list[BatchInfo], *, sha256: str,
          source: str, raw_dir: str | Path, where: str | None = None) -> Checked:
    """Validate ``frame``; refuse it if its content or time range was landed already.

    ``source`` is the file it came from (recorded); ``where`` names it in messages (default:
    ``source``).
    """
    where = where or source
    refuse_landed_content(where, landed, sha256)
    result = validate(frame, contract, where=where)
    times = result.good[contract.time_column]
    info = batch_info(where, contract, landed, times.min(), times.max(), good=len(result.good),
                      quarantined=len(result.bad), sha256=sha256, source=source,
                      raw_dir=raw_dir)
    return Checked(info, result.good, result.bad, result.warnings)


def refuse_landed_content(where: str, landed: list[BatchInfo], sha256: str) -> None:
    for batch in landed:
        if batch.sha256 == sha256:
            raise ContractError(f"{where}: already landed as batch {batch.id} (same content); "
                                "nothing to do")


def batch_info(where: str, contract: Contract, landed: list[BatchInfo], first, last, *,
               good: int, quarantined: int, sha256: str, source: str,
               raw_dir: str | Path) -> BatchInfo:
    """The info of a batch whose good rows span ``first`` .. ``last``: refused when that
    overlaps a landed batch; named by its days (precisely, when that name is taken)."""
    start, end = first.to_pydatetime(), last.to_pydatetime()
    clash = overlapping(iso(start), iso(end), landed)
    if clash is not None:
        raise ContractError(
            f"{where}: covers {iso(start)} .. {iso(end)}, which overlaps landed batch "
            f"{clash.id} ({clash.start} .. {clash.end}); land only rows newer than "
            f"{max(b.end for b in landed)}"
        )
    name = batch_id(start, end, timezone=contract.timezone)
    if batch_path(raw_dir, name).exists() or any(b.id == name for b in landed):
        name = batch_id(start, end, precise=True)  # a second batch within the same days
    return BatchInfo(
        id=name, start=iso(start), end=iso(end), rows=good, quarantined=quarantined,
        sha256=sha256, source=Path(source).name, landed_at=iso(datetime.now(UTC)),
    )


def write(batch: Checked, raw_dir: str | Path, quarantine_dir: str | Path) -> BatchInfo:
    """Write the quarantined rows, then the good rows (the batch counts as landed once its
    Parquet file is in place)."""
    if len(batch.bad):
        quarantine = bounded_quarantine(batch.bad)
        atomic.write_with(Path(quarantine_dir) / f"{batch.info.id}.csv",
                          lambda tmp: quarantine.to_csv(tmp, index=False))
    table = pa.Table.from_pandas(batch.good, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                           META_KEY: batch.info.to_json().encode()})
    atomic.write_with(batch_path(raw_dir, batch.info.id), lambda tmp: pq.write_table(table, tmp))
    return batch.info


def land(frame: pd.DataFrame, contract: Contract, raw_dir: str | Path,
         quarantine_dir: str | Path, *, sha256: str, source: str,
         where: str | None = None) -> Checked:
    """Check ``frame`` against the contract and the landed batches, then write it; return it
    as checked (its info, rows and warnings).

    Nothing is written unless the whole batch is accepted.
    """
    checked = check(frame, contract, list_batches(raw_dir), sha256=sha256, source=source,
                    raw_dir=raw_dir, where=where)
    write(checked, raw_dir, quarantine_dir)
    return checked


def bounded_quarantine(bad: pd.DataFrame, total: int | None = None) -> pd.DataFrame:
    """The quarantine file's rows: the first :data:`QUARANTINE_ROWS` bad rows, every cell
    defused and cut to :data:`CELL_CHARS` characters with a marker saying how long it was, and
    a last row whose reason counts the rows not kept (of ``total``, default ``len(bad)``: the
    bad rows of a batch checked in parts, of which only the first are at hand)."""
    total = len(bad) if total is None else total
    kept = bad.head(QUARANTINE_ROWS).map(lambda v: cut_cell(_defuse_formula(v)))
    rest = total - len(kept)
    if rest:
        note = dict.fromkeys(kept.columns, "")
        note["reason"] = kept_note(total)
        kept = pd.concat([kept, pd.DataFrame([note])], ignore_index=True)
    return kept


def kept_note(quarantined: int) -> str:
    """What a landing of ``quarantined`` bad rows says of the ones it did not keep ("" if
    every one was kept)."""
    rest = quarantined - QUARANTINE_ROWS
    return (f"{rest} more bad rows not kept (the quarantine keeps the first {QUARANTINE_ROWS})"
            if rest > 0 else "")


def cut_cell(value):
    """A text cell over :data:`CELL_CHARS` characters, cut, with a marker of its length."""
    if isinstance(value, str) and len(value) > CELL_CHARS:
        return f"{value[:CELL_CHARS]}...[cut: {len(value)} characters]"
    return value


def _defuse_formula(value):
    """Quote a cell a spreadsheet would run as a formula (CSV injection)."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES) and not _is_number(value):
        return "'" + value
    return value


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
