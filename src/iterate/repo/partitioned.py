"""``iterate predict`` and ``iterate land`` of a dataset on a Dask cluster (docs/scale.md): one
task per partition (a Parquet file of the input folder), each read, checked and written by the
same code as the local engine, so the two engines decide the same rows the same way.

Nothing here imports dask: the tasks are plain functions that :mod:`iterate.repo.cluster` runs
on the workers. Their inputs and outputs are paths every worker must see (a shared folder).

The model reaches a worker as the bundle's file bytes and the registry entry, never as a
pickled object: each worker loads it through :func:`iterate.repo.bundles.load_registered`,
which checks the bytes against the registry's SHA-256 and the exact allow-list, once per
worker and model (:func:`_worker_bundle`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from iterate.core import contract as core_contract
from iterate.errors import ContractError, IterateError
from iterate.params import Contract
from iterate.repo import bundles, landing, prediction_stream, scoring
from iterate.repo.layout import PREDICTIONS

_BUNDLES: dict[str, Any] = {}  # per worker process: the verified bundle of each model SHA-256


@dataclass(frozen=True)
class Shipped:
    """A model bundle as its files' bytes and the registry entry that vouches for them."""

    model: bytes
    meta: bytes
    entry: dict[str, Any]


def ship(folder: Path, entry: dict[str, Any]) -> Shipped:
    return Shipped((folder / bundles.MODEL_FILE).read_bytes(),
                   (folder / bundles.META_FILE).read_bytes(), entry)


def _worker_bundle(shipped: Shipped):
    """The shipped bundle, written to a private folder and loaded through the verified loader
    (a mismatch with the registry's SHA-256 or the allow-list raises, as on the client)."""
    key = f"{shipped.entry.get('model_sha256')}:{shipped.entry.get('version')}"
    if key not in _BUNDLES:
        with tempfile.TemporaryDirectory(prefix="iterate-bundle-") as tmp:
            (Path(tmp) / bundles.MODEL_FILE).write_bytes(shipped.model)
            (Path(tmp) / bundles.META_FILE).write_bytes(shipped.meta)
            _BUNDLES[key] = bundles.load_registered(tmp, shipped.entry)
    return _BUNDLES[key]


def offsets(parts: list[Path]) -> list[tuple[Path, int, int]]:
    """Each Parquet part with the rows before it and its own (from the footers)."""
    out, before = [], 0
    for part in parts:
        rows = landing.part_rows(part)
        out.append((part, before, rows))
        before += rows
    return out


def _score_part(index: int, part: str, first_row: int, name: str, out_dir: str,
                log_staging: str, chunk_rows: int, keep: list[str], shipped: Shipped) -> int:
    """A task: score one partition into ``out_dir``/part-NNNNN.csv and its log parts into
    ``log_staging``, ``chunk_rows`` rows at a time (the worker's memory holds two chunks)."""
    bundle = _worker_bundle(shipped)
    version = shipped.entry["version"]
    return prediction_stream.run(
        Path(part), Path(out_dir) / f"part-{index:05d}.csv", chunk_rows,
        lambda frame, where, offset: scoring.score(bundle, version, frame, where, keep,
                                                   row_offset=offset),
        log_folder=Path(log_staging), name=Path(name), first_row=first_row)


def predict(client: Any, source: Path, out: Path, chunk_rows: int, keep: list[str],
            bundle_folder: Path, entry: dict[str, Any], log_folder: Path = PREDICTIONS) -> int:
    """Score every partition of ``source`` on the cluster into the folder ``out`` (one CSV part
    per input part) and the prediction log; return the rows scored. As the local engine,
    nothing is published unless every row passes the contract (the first bad row named)."""
    from iterate.repo import cluster

    parts = [p for p in offsets(landing.parts(source)) if p[2] > 0]
    if not parts:
        raise ContractError(f"{source}: no data rows; give a file with at least one row")
    if out.exists() and not out.is_dir():
        raise IterateError(f"predict: {out} is a file; with compute.engine: dask the output is "
                           "a folder of CSV parts: give a folder path")
    token = uuid.uuid4().hex
    staged = out.parent / f".{out.name}.staging-{token}"
    log_staging = log_folder / f".staging-{token}"
    staged.mkdir(parents=True)
    log_staging.mkdir(parents=True)
    try:
        items = [(i, str(part.resolve()), first, str(source), str(staged.resolve()),
                  str(log_staging.resolve()), chunk_rows, list(keep))
                 for i, (part, first, _) in enumerate(parts)]
        rows = sum(cluster.run_in_order(client, _score_part, items,
                                        shipped=ship(bundle_folder, entry)))
        _replace_folder(staged, out)
        for log_part in sorted(log_staging.glob("*.parquet")):
            os.replace(log_part, log_folder / log_part.name)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
        shutil.rmtree(log_staging, ignore_errors=True)
    return rows


def _replace_folder(staged: Path, out: Path) -> None:
    """Move ``staged`` to ``out``; a folder already there (an earlier output) is replaced."""
    if out.exists():
        old = out.parent / f".{out.name}.old-{uuid.uuid4().hex}"
        os.replace(out, old)
        os.replace(staged, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, out)


def read_output(out: Path) -> pd.DataFrame:
    """The scored rows of a partitioned output (its CSV parts in order), as text."""
    return pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False, na_values=[""])
                      for p in sorted(out.glob("part-*.csv"))], ignore_index=True)


# --- landing a big batch ----------------------------------------------------------------------

@dataclass(frozen=True)
class PartCheck:
    """What one partition's check sends back: its counts, the first bad rows (as many as the
    quarantine keeps), its good rows' time range and label values, and where they are staged."""

    rows: int
    good: int
    bad_rows: int
    bad: pd.DataFrame
    start: Any
    end: Any
    labels: frozenset
    staged: str | None


def _check_part(index: int, part: str, first_row: int, where: str, staging: str,
                contract: Contract) -> PartCheck:
    """A task: the contract's row checks on one partition (read as the local engine reads it);
    its good rows, ordered by time, staged as one Parquet file."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    checked = core_contract.check_rows(landing.read_table(Path(part)), contract, where,
                                       row_offset=first_row)
    good = core_contract.sort_good(checked.good, contract)
    staged = None
    if len(good):
        staged = str(Path(staging) / f"part-{index:05d}.parquet")
        pq.write_table(pa.Table.from_pandas(good, preserve_index=False), staged)
    times = good[contract.time_column]
    return PartCheck(checked.rows, len(good), len(checked.bad),
                     checked.bad.head(landing.QUARANTINE_ROWS),
                     times.min() if len(good) else None, times.max() if len(good) else None,
                     frozenset(good[contract.label].unique().tolist()), staged)


@dataclass(frozen=True)
class StagedBatch:
    """A batch checked on the cluster, its good rows staged part by part: what
    :func:`write_batch` lands (as :class:`iterate.repo.landing.Checked` for the local engine)."""

    info: Any
    bad: pd.DataFrame  # the first bad rows, as many as the quarantine keeps
    staged: list[str]
    ordered: bool  # the staged parts' time ranges follow each other: streamed in order
    time_column: str
    warnings: tuple[str, ...] = ()


def check_batch(client: Any, source: Path, contract: Contract, landed: list, *, sha256: str,
                raw_dir: Path, staging: Path) -> StagedBatch:
    """Check the dataset ``source`` (a folder of Parquet parts) against the contract, one task
    per part; decide the batch as :func:`iterate.repo.landing.check` decides it for the whole
    table (the same refusals, the same batch name), from the parts' summaries."""
    from iterate.repo import cluster

    where = str(source)
    landing.refuse_landed_content(where, landed, sha256)
    parts = [p for p in offsets(landing.parts(source)) if p[2] > 0]
    if not parts:
        raise ContractError(f"{where}: no data rows (only a header, or nothing); land a file "
                            "with at least one row")
    staging.mkdir(parents=True, exist_ok=True)
    items = [(i, str(part.resolve()), first, where, str(staging.resolve()), contract)
             for i, (part, first, _) in enumerate(parts)]
    checks: list[PartCheck] = cluster.run_in_order(client, _check_part, items)
    n = sum(c.rows for c in checks)
    n_bad = sum(c.bad_rows for c in checks)
    first = next(((int(c.bad["source_row"].iloc[0]), str(c.bad["reason"].iloc[0]))
                  for c in checks if c.bad_rows), None)
    core_contract.refuse_batch(where, contract, n, n_bad, first)
    filled = [c for c in checks if c.good]
    start, end = min(c.start for c in filled), max(c.end for c in filled)
    labels = set().union(*(c.labels for c in filled))
    info = landing.batch_info(where, contract, landed, start, end, good=n - n_bad,
                              quarantined=n_bad, sha256=sha256, source=where, raw_dir=raw_dir)
    bad = pd.concat([c.bad for c in checks if c.bad_rows], ignore_index=True) if n_bad else \
        checks[0].bad
    ordered = all(a.end <= b.start for a, b in zip(filled, filled[1:], strict=False))
    warning = core_contract.one_class_warning(contract, labels)
    return StagedBatch(info, bad.head(landing.QUARANTINE_ROWS), [c.staged for c in filled],
                       ordered, contract.time_column, tuple(filter(None, [warning])))


def write_batch(batch: StagedBatch, raw_dir: Path, quarantine_dir: Path) -> Any:
    """Land ``batch`` as the local engine lands one: its quarantine, then its good rows as one
    Parquet file (the parts streamed in order when their times follow each other, else sorted
    together), the batch's info in its footer."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from iterate.repo import atomic
    from iterate.repo.store import META_KEY, batch_path

    if batch.info.quarantined:
        quarantine = landing.bounded_quarantine(batch.bad, total=batch.info.quarantined)
        atomic.write_with(Path(quarantine_dir) / f"{batch.info.id}.csv",
                          lambda tmp: quarantine.to_csv(tmp, index=False))

    def write(tmp: str) -> None:
        if batch.ordered:
            tables = (pq.read_table(p) for p in batch.staged)
        else:  # times interleave across parts: one stable sort of all of them, in memory
            good = pd.concat([pd.read_parquet(p) for p in batch.staged], ignore_index=True)
            tables = iter([pa.Table.from_pandas(good.sort_values(batch.time_column,
                                                                 kind="stable"),
                                                preserve_index=False)])
        writer = None
        for table in tables:
            if writer is None:
                schema = table.schema.with_metadata({**(table.schema.metadata or {}),
                                                     META_KEY: batch.info.to_json().encode()})
                writer = pq.ParquetWriter(tmp, schema)
            writer.write_table(table.cast(schema))
        writer.close()

    atomic.write_with(batch_path(raw_dir, batch.info.id), write)
    return batch.info
