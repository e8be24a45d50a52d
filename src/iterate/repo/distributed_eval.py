"""The evaluate stage's comparison of a scored Parquet folder on a Dask cluster (docs/scale.md):
each partition summarised on a worker (:mod:`iterate.core.summaries`), the summaries merged on
the workers, a second pass for the paired AUC delta's variance; the same metrics and slices as
:func:`iterate.core.evaluate.candidate_vs_production` on all the rows (the AUC on a grid of
``compute.auc_bins``, within the error bound it reports).

The folder's parts hold the label, each model's probability and the slice column. Nothing here
imports dask: :mod:`iterate.repo.cluster` runs the tasks.
"""

from __future__ import annotations

import math
from functools import reduce
from pathlib import Path
from typing import Any

import numpy as np

from iterate.core import evaluate, summaries
from iterate.repo import landing, scores


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
    keys = scores.slice_keys(table.column(slice_column)) if slice_column else None
    return y, pc, pp, keys


def _summarise_part(part: str, label: str, candidate: str, production: str | None,
                    slice_column: str | None, threshold: float | tuple[float, float],
                    bins: int | None) -> tuple[Any, dict]:
    """A task: the partition's summary, overall and per slice value."""
    y, pc, pp, keys = _read(part, label, candidate, production, slice_column)
    sliced = {} if keys is None else summaries.summarise_slices(y, pc, pp, keys, threshold,
                                                                bins)
    return summaries.summarise(y, pc, pp, threshold, bins), sliced


def _merge_summaries(a: tuple[Any, dict], b: tuple[Any, dict]) -> tuple[Any, dict]:
    return summaries.merge(a[0], b[0]), summaries.merge_slices(a[1], b[1])


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


def _merge_spreads(a: tuple[Any, dict], b: tuple[Any, dict]) -> tuple[Any, dict]:
    overall = a[0] if b[0] is None else b[0] if a[0] is None else \
        summaries.merge_spreads(a[0], b[0])
    return overall, {k: summaries.merge_spreads(a[1][k], b[1][k]) if k in a[1] and k in b[1]
                     else a[1].get(k) or b[1][k] for k in {*a[1], *b[1]}}


def compare(client: Any, folder: Path, label: str, candidate: str, production: str | None,
            threshold: float | tuple[float, float], options: Any,
            bins: int | None) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """``(metrics, slices, sketch)`` of the scored rows in ``folder`` (columns ``label``,
    ``candidate``, ``production`` (or None: no production model) and
    ``options.slice_column``): the metrics and slices as
    :func:`iterate.core.evaluate.candidate_vs_production` gives them, the AUCs counted on a
    grid of ``bins`` (None: exact); ``sketch`` says so, with the overall AUCs' error bound."""
    from iterate.repo import cluster

    parts = [str(p.resolve()) for p in landing.parts(folder)]
    column = options.slice_column
    base = [(p, label, candidate, production, column) for p in parts]
    overall, sliced = cluster.fold_in_order(client, _summarise_part,
                                            [(*b, threshold, bins) for b in base],
                                            _merge_summaries)
    kept = {k: s for k, s in sliced.items() if s.rows >= options.min_slice_rows}
    spreads: tuple[Any, dict] = (None, {})
    if production is not None:
        tables = summaries.components(overall)
        slice_tables = {k: t for k, s in kept.items()
                        if (t := summaries.components(s)) is not None}
        if tables is not None or slice_tables:
            spreads = cluster.fold_in_order(client, _spread_part, base, _merge_spreads,
                                            tables=tables, slice_tables=slice_tables)
    ci = {"confidence": options.confidence, "resamples": options.resamples, "seed": options.seed}
    metrics = evaluate.to_dict(summaries.compare(overall, spreads[0], **ci))
    values = {} if column is None else evaluate.to_dict(
        {k: summaries.compare(kept[k], spreads[1].get(k), **ci) if k in kept else None
         for k in sliced})
    sketch = {"auc_bins": bins,
              "roc_auc_error_bound": {k: None if v is None else _round_up(v)
                                      for k, v in summaries.auc_error_bound(overall).items()}}
    return metrics, {"column": column, "min_rows": options.min_slice_rows,
                     "values": values}, sketch


def _round_up(bound: float) -> float:
    """``bound`` to 3 significant digits, rounded up (still a bound)."""
    if bound <= 0:
        return 0.0
    step = 10.0 ** (math.floor(math.log10(bound)) - 2)
    return float(f"{math.ceil(bound / step) * step:.3g}")


# --- drift ------------------------------------------------------------------------------------

def _count_part(part: str, kinds: dict[str, str]) -> dict[str, Any]:
    """A task: each numeric column's value counts and each categorical column's counts."""
    import pyarrow.parquet as pq

    table = pq.ParquetFile(part).read(columns=list(kinds))
    out: dict[str, Any] = {}
    for name, kind in kinds.items():
        column = table.column(name)
        if kind == "numeric":
            out[name] = summaries.value_counts(
                column.to_numpy(zero_copy_only=False).astype(np.float64))
        else:
            out[name] = summaries.category_counts(column.to_pylist())
    return out


def _merge_counts(kinds: dict[str, str], a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return {name: summaries.merge_value_counts(a[name], b[name]) if kind == "numeric" else
            {k: a[name].get(k, 0) + b[name].get(k, 0) for k in {*a[name], *b[name]}}
            for name, kind in kinds.items()}


def drift_statistics(client: Any, reference: Path, current: Path, kinds: dict[str, str],
                     bins: int, eps: float) -> dict[str, dict[str, float]]:
    """Per column of ``kinds`` (numeric | categorical), the drift test's statistic and effect
    as :func:`iterate.core.drift.compare` computes them on all the rows: numeric, the KS
    statistic (exact, from merged value counts) and PSI on the reference's quantile edges;
    categorical, chi-squared and its p-value from merged category counts."""
    from iterate.repo import cluster

    merged = []
    for folder in (reference, current):
        found = cluster.run_in_order(client, _count_part,
                                     [(str(p.resolve()),) for p in landing.parts(folder)],
                                     kinds=kinds)
        merged.append(reduce(lambda a, b: _merge_counts(kinds, a, b), found))
    ref, cur = merged
    out = {}
    for name, kind in kinds.items():
        if kind == "numeric":
            out[name] = {"test": "ks", "statistic": summaries.ks_statistic(ref[name], cur[name]),
                         "effect_size": summaries.psi_from_value_counts(ref[name], cur[name],
                                                                         bins, eps)}
        else:
            statistic = summaries.chi2_from_counts(ref[name], cur[name])
            out[name] = {"test": "chi2", "statistic": statistic,
                         "p_value": summaries.chi2_p_value(statistic, ref[name], cur[name])}
    return out


def compare_arrays(compute: Any, staging: Path, y: Any, candidate: Any, production: Any | None,
                   threshold: float | tuple[float, float], options: Any,
                   slice_values: Any = None) -> tuple[dict[str, Any], dict[str, Any],
                                                      dict[str, Any]]:
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
            metrics, slices, sketch = compare(client, folder, "label", "candidate",
                                              "production" if production is not None else None,
                                              threshold, judged, compute.auc_bins)
        return metrics, {**slices, "column": options.slice_column}, sketch
    finally:
        shutil.rmtree(folder, ignore_errors=True)

