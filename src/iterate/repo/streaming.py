"""Read a training Parquet file in chunks, so a full refit never holds the window as a DataFrame.

One pass (:func:`scan`) gathers what a fit needs besides the feature matrix: the labels, the
batch ids, each numeric column's range, the rows the feature transformer is fitted on and the
reference sample; a second (:func:`transform`) fills the matrix chunk by chunk.

With ``train.fit: stream`` there is no matrix: :func:`learn_stream` trains the classifier by
passes of ``partial_fit`` over the file's row groups, in order, one row group at a time, in
this process or as a chain of tasks on the Dask cluster (the same model).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from iterate.core import batches, features, training
from iterate.params import Compute, Contract, Model

CHUNK_ROWS = 100_000


@dataclass
class Scan:
    rows: int
    labels: np.ndarray
    batch_ids: list[str]  # in time order
    extremes: pd.DataFrame  # row 0: each numeric column's minimum, row 1: its maximum
    to_fit: pd.DataFrame | None  # the features of the rows the transformer is fitted on
    reference: pd.DataFrame  # the features and label of the reference sample


def count_rows(path: str | Path) -> int:
    return pq.ParquetFile(path).metadata.num_rows


def chunks(path: str | Path, columns: list[str]) -> Iterator[tuple[int, pa.RecordBatch]]:
    """``(first row, batch of rows)`` of ``columns``, in file order."""
    start = 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=CHUNK_ROWS, columns=columns):
        yield start, batch
        start += batch.num_rows


def sample_positions(rows: int, size: int, seed: int) -> np.ndarray:
    """The sorted positions of ``size`` of ``rows`` rows drawn as ``DataFrame.sample`` draws
    them (all rows when there are no more than ``size``)."""
    if rows <= size:
        return np.arange(rows)
    return np.sort(np.random.RandomState(seed).choice(rows, size=size, replace=False))


def scan(path: str | Path, contract: Contract, fit_size: int, reference_size: int,
         seed: int) -> Scan:
    """One pass over the file; the transformer's rows are a sample of ``fit_size`` plus the
    first row of each category value, so every category in the window is known to the model."""
    rows = count_rows(path)
    numeric, categorical = features.numeric_and_categorical(contract)
    to_fit = _Gather(sample_positions(rows, fit_size, seed), contract.features,
                     categorical if rows > fit_size else [])
    reference = _Gather(sample_positions(rows, reference_size, seed),
                        [*contract.features, contract.label])
    labels, batch_ids, ranges = [], set(), _Ranges(numeric)
    for start, batch in chunks(path, [*contract.features, contract.label, "batch_id"]):
        labels.append(batch.column(contract.label).to_numpy())
        batch_ids.update(batch.column("batch_id").unique().to_pylist())
        ranges.add(batch)
        to_fit.add(start, batch)
        reference.add(start, batch)
    return Scan(rows=rows, labels=np.concatenate(labels),
                batch_ids=sorted(batch_ids, key=batches.order_key), extremes=ranges.frame(),
                to_fit=to_fit.frame(), reference=reference.frame())


def transform(path: str | Path, transformer: Any, columns: list[str], rows: int, dtype: type,
              parts: list[np.ndarray] | None = None) -> list:
    """The fitted ``transformer``'s output for every row of ``columns``, as ``dtype`` matrices
    filled chunk by chunk: one per part, holding the rows ``parts[k]`` lists in that order
    (dense only), or, without ``parts``, one of all rows in file order (dense, or CSR when the
    transformer's output is sparse)."""
    from scipy import sparse

    gather = None
    for start, batch in chunks(path, columns):
        out = transformer.transform(batch.to_pandas())
        if gather is None:
            if sparse.issparse(out) and parts is not None:
                raise ValueError("a sparse output is gathered in file order only")
            gather = (_Csr(rows, out.shape[1], dtype) if sparse.issparse(out)
                      else _Dense(parts or [np.arange(rows)], out.shape[1], dtype))
        gather.add(start, out)
    return gather.matrices()


class _Dense:
    """Preallocated matrices; each row goes to its part's matrix, at its place in that part."""

    def __init__(self, parts: list[np.ndarray], width: int, dtype: type):
        rows = sum(len(p) for p in parts)
        self.part, self.slot = np.empty(rows, dtype=np.int8), np.empty(rows, dtype=np.int64)
        for k, positions in enumerate(parts):
            self.part[positions], self.slot[positions] = k, np.arange(len(positions))
        self.out = [np.empty((len(p), width), dtype=dtype) for p in parts]

    def add(self, start: int, block: np.ndarray) -> None:
        part = self.part[start:start + len(block)]
        slot = self.slot[start:start + len(block)]
        for k, matrix in enumerate(self.out):
            chosen = part == k
            matrix[slot[chosen]] = block[chosen]

    def matrices(self) -> list[np.ndarray]:
        return self.out


class _Csr:
    """A CSR matrix filled in place: its buffers are sized from the first chunk's fullest row
    (pages never written take no memory) and grow if a later chunk needs more."""

    def __init__(self, rows: int, width: int, dtype: type):
        self.shape, self.dtype = (rows, width), dtype
        self.data = self.indices = None
        self.indptr = np.zeros(rows + 1, dtype=np.int64)
        self.nnz = 0

    def add(self, start: int, block: Any) -> None:
        block = block.tocsr()
        if self.data is None:
            self._resize(self.shape[0] * max(int(np.diff(block.indptr).max(initial=0)), 1))
        end = self.nnz + block.nnz
        if end > len(self.data):
            self._resize(max(end, len(self.data) + len(self.data) // 4))
        self.data[self.nnz:end] = block.data
        self.indices[self.nnz:end] = block.indices
        self.indptr[start + 1:start + 1 + block.shape[0]] = block.indptr[1:] + self.nnz
        self.nnz = end

    def _resize(self, size: int) -> None:
        if self.data is None:
            self.data = np.empty(size, dtype=self.dtype)
            self.indices = np.empty(size, dtype=np.int32)
        else:
            self.data.resize(size, refcheck=False)
            self.indices.resize(size, refcheck=False)

    def matrices(self) -> list:
        from scipy import sparse

        self._resize(self.nnz)
        indptr = self.indptr.astype(np.int32) if self.nnz < 2**31 else self.indptr
        return [sparse.csr_matrix((self.data, self.indices, indptr), shape=self.shape)]


@dataclass
class _Gather:
    """The rows at sorted ``positions``, and the first row holding each value of each
    ``firsts`` column."""

    positions: np.ndarray
    columns: list[str]
    firsts: list[str] = field(default_factory=list)
    seen: dict[str, set] = field(default_factory=dict)
    kept: list[pa.RecordBatch] = field(default_factory=list)

    def add(self, start: int, batch: pa.RecordBatch) -> None:
        lo, hi = np.searchsorted(self.positions, [start, start + batch.num_rows])
        keep = np.zeros(batch.num_rows, dtype=bool)
        keep[self.positions[lo:hi] - start] = True
        for name in self.firsts:
            keep[self._first_of_new_values(name, batch.column(name))] = True
        self.kept.append(batch.select(self.columns).filter(keep))

    def _first_of_new_values(self, name: str, column: pa.Array) -> list[int]:
        seen = self.seen.setdefault(name, set())
        new = {}
        for i, value in column.to_pandas().drop_duplicates().items():
            key = None if pd.isna(value) else value
            if key not in seen:
                new[key] = i
        seen.update(new)
        return list(new.values())

    def frame(self) -> pd.DataFrame:
        return pa.Table.from_batches(self.kept).to_pandas()


class _Ranges:
    """Each numeric column's minimum and maximum so far, as pandas computes them (NaN skipped)."""

    def __init__(self, columns: list[str]):
        self.low = dict.fromkeys(columns, np.nan)
        self.high = dict.fromkeys(columns, np.nan)

    def add(self, batch: pa.RecordBatch) -> None:
        for name in self.low:
            values = batch.column(name).to_pandas()
            if values.notna().any():
                self.low[name] = np.nanmin([self.low[name], values.min()])
                self.high[name] = np.nanmax([self.high[name], values.max()])

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame({name: [self.low[name], self.high[name]] for name in self.low},
                            dtype="float64")


FIT_ROWS = 1_000_000  # above: the feature transformer is fitted on a sample of this many rows


def fit_file(path: str | Path, note: str, model: Model, contract: Contract,
             reference_rows: int, fit_rows: int = FIT_ROWS, *,
             fit_estimator: Callable[..., str | None] | None = None) -> training.Bundle:
    """A full refit on a training Parquet file, read in chunks, with its reference sample.

    The fit is :func:`iterate.core.training.fit_full`'s, fed from the file: up to ``fit_rows``
    rows it is the same model as ``fit_full`` of the whole file. Beyond, the transformer is
    fitted on ``fit_rows`` sampled rows plus the first row of each category value, and the
    estimator on float32 rows. ``fit_estimator(pipeline, rows, dtype, first_row)``, when
    given, fits the classifier instead, and may return words for the note: :func:`streamed`
    (``train.fit: stream``), or on a cluster :mod:`iterate.repo.distributed_fit`.
    """
    scanned = scan(path, contract, fit_rows, reference_rows, model.seed)
    labels = scanned.labels
    pipeline = training.fit_features(training.build(model, contract), scanned.to_fit, labels)
    first = scanned.to_fit.head(1)
    fitted_on, scanned.to_fit = len(scanned.to_fit), None  # free them before the matrix
    if scanned.rows > fit_rows:
        note += f" (features fitted on a sample of {fitted_on} rows)"
    dtype = np.float64 if scanned.rows <= fit_rows else np.float32
    if fit_estimator is not None:
        note += fit_estimator(pipeline, scanned.rows, dtype, first) or ""
    else:
        split = training.validation_split(pipeline[-1], labels, model.seed)
        matrices = transform(path, pipeline[:-1], contract.features, scanned.rows, dtype,
                             parts=list(split) if split else None)
        training.fit_estimator(pipeline, matrices, labels, split)
        del matrices
    bundle = training.describe(pipeline, "full", note, model, contract, trained=scanned.batch_ids,
                               y=labels, seen=training.seen_range(scanned.batch_ids),
                               schema=training.input_schema(contract, pipeline, scanned.extremes))
    return training.keep_reference(bundle, scanned.reference, model)


# --- train.fit: stream ------------------------------------------------------------------------

def row_groups(path: str | Path) -> int:
    return pq.ParquetFile(path).metadata.num_row_groups


def streamed(path: str | Path, contract: Contract, epochs: int,
             compute: Compute) -> Callable[..., str]:
    """:func:`fit_file`'s ``fit_estimator`` for ``train.fit: stream``: the classifier trained
    by :func:`learn_stream` on the engine ``compute`` names."""
    def fit(pipeline: Any, rows: int, dtype: type, first: Any) -> str:
        learnt = learn_stream(path, pipeline, contract, epochs, compute)
        pipeline.steps[-1] = (pipeline.steps[-1][0], learnt)
        return f" (partial_fit: {epochs} passes over {row_groups(path)} row groups)"

    return fit


def learn_part(estimator: Any, path: str, group: int, transformer: Any, columns: list[str],
               label: str) -> Any:
    """One step of a streamed fit (a task on the cluster, or a turn of the local loop): read
    row group ``group`` of ``path``, transform it with the fitted ``transformer`` and continue
    ``estimator`` on it with ``partial_fit``."""
    frame = pq.ParquetFile(path).read_row_group(group, columns=[*columns, label]).to_pandas()
    return training.learn(estimator, transformer.transform(frame[columns]),
                          frame[label].to_numpy())


def learn_stream(path: str | Path, pipeline: Any, contract: Contract, epochs: int,
                 compute: Compute) -> Any:
    """The pipeline's classifier trained by ``epochs`` passes of :func:`learn_part` over the
    row groups of ``path`` in file order: the one order, so the local loop and the chain of
    tasks on the cluster (:func:`iterate.repo.cluster.run_chain`; the file must be on a
    filesystem every worker mounts at the same path) give the same model, to the bit.

    No process holds more than one row group's rows, and on the cluster the rows never reach
    the client: only the model moves, from task to task. A loop of our own rather than
    dask-ml's ``Incremental``: that wraps a dask array the client builds from a dask
    DataFrame (dask-ml, and dask's dataframe layer, would become dependencies of the train
    stage), while the train stage's rows are already partitioned (the row groups of one file),
    the transformer is fitted beforehand on the scan's sample, and these few lines give the
    local engine the very same steps.
    """
    items = [(str(Path(path).resolve()), group)
             for _ in range(epochs) for group in range(row_groups(path))]
    shared = {"transformer": pipeline[:-1], "columns": contract.features,
              "label": contract.label}
    if compute.engine == "dask":
        from iterate.repo import cluster

        with cluster.session(compute) as client:
            learnt = cluster.run_chain(client, learn_part, pipeline[-1], items, **shared)
        # its hyperparameters back from the client's estimator (equal values, never changed by
        # partial_fit): skops records the objects two attributes share (SGDClassifier's epsilon
        # and validation_fraction are one 0.1) and dask's transport, pickle, unshares floats;
        # so the saved bundle is the local engine's to the byte
        return learnt.set_params(**pipeline[-1].get_params(deep=False))
    estimator = pipeline[-1]
    for item in items:
        estimator = learn_part(estimator, *item, **shared)
    return estimator
