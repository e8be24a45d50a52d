"""The evaluate stage's comparison of a scored Parquet folder on a Dask cluster (docs/scale.md):
each partition summarised on a worker (:mod:`iterate.core.summaries`), the summaries merged, a
second pass for the paired AUC delta's variance; the same metrics and slices as
:func:`iterate.core.evaluate.candidate_vs_production` on all the rows.

The folder's parts hold the label, each model's probability and the slice column. Nothing here
imports dask: :mod:`iterate.repo.cluster` runs the tasks.
"""

from __future__ import annotations

from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from iterate.core import evaluate, summaries
from iterate.repo import landing


def _read(part: str, label: str, candidate: str, production: str | None,
          slice_column: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None,
                                             np.ndarray | None]:
    import pyarrow.parquet as pq

    columns = [label, candidate, *([production] if production else []),
               *([slice_column] if slice_column else [])]
    table = pq.ParquetFile(part).read(columns=columns)
    y = table.column(label).to_numpy(zero_copy_only=False)
    pc = table.column(candidate).to_numpy(zero_copy_only=False).astype(np.float64)
    pp = table.column(production).to_numpy(zero_copy_only=False).astype(np.float64) \
        if production else None
    keys = np.asarray(["nan" if v is None else str(v)
                       for v in table.column(slice_column).to_pylist()]) if slice_column \
        else None
    return y, pc, pp, keys


def _summarise_part(part: str, label: str, candidate: str, production: str | None,
                    slice_column: str | None,
                    threshold: float | tuple[float, float]) -> tuple[Any, dict]:
    """A task: the partition's summary, overall and per slice value."""
    y, pc, pp, keys = _read(part, label, candidate, production, slice_column)
    sliced = {} if keys is None else summaries.summarise_slices(y, pc, pp, keys, threshold)
    return summaries.summarise(y, pc, pp, threshold), sliced


def _spread_part(part: str, label: str, candidate: str, production: str, slice_column: str | None,
                 tables: Any, slice_tables: dict) -> tuple[Any, dict]:
    """A task: the partition's paired AUC component differences, overall and per slice."""
    y, pc, pp, keys = _read(part, label, candidate, production, slice_column)
    overall = None if tables is None else summaries.spread(y, pc, pp, tables)
    sliced = {}
    for key, t in slice_tables.items():
        rows = keys == key
        if t is not None and rows.any():
            sliced[key] = summaries.spread(y[rows], pc[rows], pp[rows], t)
    return overall, sliced


def compare(client: Any, folder: Path, label: str, candidate: str, production: str | None,
            threshold: float | tuple[float, float],
            options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metrics, slices)`` of the scored rows in ``folder`` (columns ``label``, ``candidate``,
    ``production`` (or None: no production model) and ``options.slice_column``), as
    :func:`iterate.core.evaluate.candidate_vs_production` gives them."""
    from iterate.repo import cluster

    parts = [str(p.resolve()) for p in landing.parts(folder)]
    column = options.slice_column
    base = [(p, label, candidate, production, column) for p in parts]
    found = cluster.run_in_order(client, _summarise_part, [(*b, threshold) for b in base])
    overall = summaries.merge_all([f[0] for f in found])
    sliced = summaries.merge_all_slices([f[1] for f in found])
    kept = {k: s for k, s in sliced.items() if s.rows >= options.min_slice_rows}
    spreads: tuple[Any, dict] = (None, {})
    if production is not None:
        tables = summaries.components(overall)
        slice_tables = {k: summaries.components(s) for k, s in kept.items()}
        if tables is not None or any(t is not None for t in slice_tables.values()):
            done = cluster.run_in_order(client, _spread_part, base, tables=tables,
                                        slice_tables=slice_tables)
            spreads = (reduce(summaries.merge_spreads, [d[0] for d in done])
                       if tables is not None else None,
                       {k: reduce(summaries.merge_spreads, [d[1][k] for d in done
                                                            if k in d[1]])
                        for k, t in slice_tables.items() if t is not None})
    ci = {"confidence": options.confidence, "resamples": options.resamples, "seed": options.seed}
    metrics = evaluate.to_dict(summaries.compare(overall, spreads[0], **ci))
    values = {} if column is None else evaluate.to_dict(
        {k: summaries.compare(kept[k], spreads[1].get(k), **ci) if k in kept else None
         for k in sliced})
    return metrics, {"column": column, "min_rows": options.min_slice_rows, "values": values}


def compare_arrays(compute: Any, staging: Path, y: Any, candidate: Any, production: Any | None,
                   threshold: float | tuple[float, float], options: Any,
                   slice_values: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """:func:`compare` of rows held in memory (the evaluate stage's holdout and scores): written
    as ``compute.workers`` Parquet parts under ``staging`` (a folder every worker sees), judged
    on the cluster ``compute`` names, the parts removed after."""
    import dataclasses
    import shutil
    import uuid

    import pyarrow as pa
    import pyarrow.parquet as pq

    from iterate.repo import cluster

    column = options.slice_column if slice_values is not None else None
    folder = staging / f".evaluate-parts-{uuid.uuid4().hex}"
    folder.mkdir(parents=True)
    try:
        data = {"label": np.asarray(y).astype("int8"), "candidate": np.asarray(candidate)}
        if production is not None:
            data["production"] = np.asarray(production)
        if column:
            data[column] = np.asarray(slice_values).astype(str)
        table = pa.table(data)
        bounds = np.linspace(0, table.num_rows, max(compute.workers, 1) + 1).astype(int)
        for i, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
            if b > a:
                pq.write_table(table.slice(a, b - a), folder / f"part-{i:05d}.parquet")
        judged = dataclasses.replace(options, slice_column=column)
        with cluster.session(compute) as client:
            metrics, slices = compare(client, folder, "label", "candidate",
                                      "production" if production is not None else None,
                                      threshold, judged)
        return metrics, {**slices, "column": options.slice_column}
    finally:
        shutil.rmtree(folder, ignore_errors=True)

