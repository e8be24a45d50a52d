"""The train stage's full refit on a Dask cluster (``compute.engine: dask``; docs/scale.md), for
a classifier that fits there: one with ``fit_distributed`` (LightGBM,
:class:`iterate.core.boosting.LightGBMClassifier`, through ``lightgbm.dask``).

The client reads the training file once in chunks, as the local engine does
(:func:`iterate.repo.streaming.scan`: labels, batch ids, ranges, the transformer's sample and
the reference sample; never the feature matrix), and fits the feature transformer on the
sample. Each worker then reads its own range of rows of the file and transforms it: one
partition of the matrix, kept in that worker's memory, where the classifier is fitted.
Nothing here imports dask: :mod:`iterate.repo.cluster` does.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from iterate.core import training
from iterate.params import Compute, Contract, Model
from iterate.repo import streaming

PART_ROWS = 1_000_000  # rows per partition at most (and at least one partition per worker)


def fits_on_cluster(model: Model, contract: Contract) -> bool:
    """Whether ``model``'s classifier fits on a cluster (it has ``fit_distributed``)."""
    return hasattr(training.build(model, contract)[-1], "fit_distributed")


def bounds(rows: int, workers: int) -> list[tuple[int, int]]:
    """Contiguous row ranges: at least one per worker, none above :data:`PART_ROWS`."""
    count = max(min(workers, rows), math.ceil(rows / PART_ROWS), 1)
    edges = np.linspace(0, rows, count + 1).astype(int)
    return [(int(a), int(b)) for a, b in zip(edges, edges[1:], strict=False) if b > a]


def fit_file(path: str | Path, note: str, model: Model, contract: Contract,
             reference_rows: int, compute: Compute,
             fit_rows: int = streaming.FIT_ROWS) -> training.Bundle:
    """:func:`iterate.repo.streaming.fit_file` with the classifier fitted on the cluster
    ``compute`` names, on partitions the workers read from ``path`` (a file every worker sees
    at that path)."""
    from iterate.repo import cluster

    path = Path(path).resolve()

    def on_cluster(pipeline: Any, rows: int, dtype: type, first: Any) -> None:
        transformer = pipeline[:-1]
        width = _dense(transformer.transform(first)).shape[1]
        parts = bounds(rows, compute.workers)
        with cluster.session(compute) as client:
            x, y = cluster.partitioned_arrays(
                client, read_part, [(str(path), a, b) for a, b in parts],
                [b - a for a, b in parts], width, dtype, transformer=transformer,
                features=contract.features, label=contract.label, float_type=dtype)
            pipeline[-1].fit_distributed(client, x, y)

    return streaming.fit_file(path, note, model, contract, reference_rows, fit_rows,
                              fit_estimator=on_cluster)


def read_part(path: str, start: int, stop: int, *, transformer: Any, features: list[str],
              label: str, float_type: type) -> tuple[np.ndarray, np.ndarray]:
    """A task: rows ``[start, stop)`` of the file, transformed (a ``float_type`` matrix), and their
    labels; read chunk by chunk from the row groups that hold them."""
    import pyarrow.parquet as pq

    file = pq.ParquetFile(path)
    groups, first, position = [], 0, None
    for i in range(file.metadata.num_row_groups):
        n = file.metadata.row_group(i).num_rows
        if first < stop and first + n > start:
            groups.append(i)
            position = first if position is None else position
        first += n
    x, y = None, np.empty(stop - start, dtype=np.int64)
    for batch in file.iter_batches(batch_size=streaming.CHUNK_ROWS, row_groups=groups,
                                   columns=[*features, label]):
        a, b = max(position, start), min(position + batch.num_rows, stop)
        if a < b:
            chunk = batch.slice(a - position, b - a)
            out = _dense(transformer.transform(chunk.select(features).to_pandas()))
            if x is None:
                x = np.empty((stop - start, out.shape[1]), dtype=float_type)
            x[a - start:b - start] = out
            y[a - start:b - start] = chunk.column(label).to_numpy()
        position += batch.num_rows
    return x, y


def _dense(matrix: Any) -> np.ndarray:
    return matrix.toarray() if hasattr(matrix, "toarray") else np.asarray(matrix)
