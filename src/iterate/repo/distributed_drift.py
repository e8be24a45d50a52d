"""The drift step's comparison on a Dask cluster (docs/scale.md): the reference sample and the
newest batch as Parquet parts, each part's columns counted on a worker
(:class:`iterate.core.drift.ColumnCounts`), the counts merged in the parts' order, and the
report :func:`iterate.core.drift.compare` gives on all the rows
(:func:`iterate.core.drift.report_of_counts`). Nothing here imports dask:
:mod:`iterate.repo.cluster` runs the tasks.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iterate.core import drift
from iterate.params import Compute, Drift
from iterate.repo import landing

if TYPE_CHECKING:
    import pandas as pd


def _count_part(part: str, kinds: dict[str, str]) -> dict[str, drift.ColumnCounts]:
    """A task: each column's :class:`iterate.core.drift.ColumnCounts` in this partition."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(part).read(columns=list(kinds))
    out = {}
    for name, kind in kinds.items():
        column = table.column(name)
        values = column.to_numpy(zero_copy_only=False).astype(np.float64) \
            if kind == "numeric" else column.to_pylist()
        out[name] = drift.ColumnCounts.of(values, kind)
    return out


def drift_statistics(client: Any, reference: Path, current: Path, kinds: dict[str, str],
                     options: Drift) -> drift.DriftReport:
    """:func:`iterate.core.drift.compare` of the Parquet parts in ``reference`` and in
    ``current`` (folders, or one file each) on the columns of ``kinds``: each part counted on
    a worker, the counts merged on the workers in the parts' order
    (:func:`iterate.core.drift.report_of_counts`: KS from the merged value counts, exact; PSI
    from them on the reference's quantile edges; chi-squared from merged category counts)."""
    from iterate.repo import cluster

    merged = [cluster.fold_in_order(client, _count_part,
                                    [(str(p.resolve()),) for p in landing.parts(folder)],
                                    _merge_counts, kinds=kinds)
              for folder in (reference, current)]
    return drift.report_of_counts(kinds, *merged, options)


def _merge_counts(a: dict[str, drift.ColumnCounts],
                  b: dict[str, drift.ColumnCounts]) -> dict[str, drift.ColumnCounts]:
    return {name: a[name].merge(b[name]) for name in a}


def drift_of_frames(compute: Compute, staging: Path, reference: pd.DataFrame,
                    current: pd.DataFrame, kinds: dict[str, str],
                    options: Drift) -> drift.DriftReport:
    """:func:`drift_statistics` of two DataFrames held in memory (the drift step's reference
    sample and the newest batch with production's scores): each written as
    ``compute.workers`` Parquet parts under ``staging`` (a folder every worker sees), judged
    on the cluster ``compute`` names, the parts removed after."""
    import pyarrow as pa

    from iterate.repo import cluster

    drift.check_columns(reference, current, kinds)
    tables = {which: pa.Table.from_pandas(frame[list(kinds)], preserve_index=False)
              for which, frame in (("reference", reference), ("current", current))}
    with landing.staged_parts(staging, "drift-parts", tables, compute.workers) as folder, \
            cluster.session(compute) as client:
        return drift_statistics(client, folder / "reference", folder / "current", kinds,
                                options)
