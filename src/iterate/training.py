"""Decide what a training run does and describe the result: full refit, or an incremental
update of the production model on the batches it has not seen.

A full refit of a training file (:func:`fit_file`) streams it: up to ``FIT_ROWS`` rows it gives
the very model :func:`fit` gives on the same rows as a DataFrame; beyond, the feature
transformer is fitted on a sample and the estimator on a float32 matrix, to bound memory.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from iterate import models, streaming
from iterate.errors import IterateError
from iterate.params import Contract, Model, asdict

FIT_ROWS = 1_000_000  # above: the feature transformer is fitted on a sample of this many rows


@dataclass(frozen=True)
class Plan:
    mode: str  # "full" | "incremental" | "unchanged"
    rows: pd.DataFrame  # the rows this run fits on
    note: str


def resolve_mode(mode: str, recommendation: str | None) -> str:
    """``auto`` follows monitoring: a full refit when it recommends one, else incremental."""
    if mode != "auto":
        return mode
    return "full" if recommendation in ("full", None) else "incremental"


def reference_sample(rows: pd.DataFrame, size: int, seed: int) -> pd.DataFrame:
    """Up to ``size`` training rows, drawn reproducibly, in their original order."""
    if len(rows) <= size:
        return rows
    return rows.sample(n=size, random_state=seed).sort_index()


def full_refit_note(mode: str, production: dict[str, Any] | None, rows: int) -> str | None:
    """Why the run is a full refit, or None when it continues the production model."""
    if mode == "full":
        return f"full refit on {rows} rows"
    if production is None:
        return "incremental asked, but no production model yet: full refit"
    return None


def plan(mode: str, model: Model, train: pd.DataFrame, production: dict[str, Any] | None) -> Plan:
    """Choose the rows and the mode; ``production`` is the production model's metadata."""
    note = full_refit_note(mode, production, len(train))
    if note is not None:
        return Plan("full", train, note)
    if production["kind"] != model.kind:
        raise IterateError(
            f"train: train.mode incremental continues the production model "
            f"({production['kind']}), but model.kind is {model.kind}; set train.mode: full to "
            "switch kinds")
    seen = set(production["seen_batches"])
    unseen = train[~train["batch_id"].isin(seen)]
    if unseen.empty:
        return Plan("unchanged", unseen, "production has seen every training batch: unchanged")
    return Plan("incremental", unseen,
                f"partial_fit on {len(unseen)} rows of {unseen['batch_id'].nunique()} unseen "
                "batch(es)")


def fit(plan: Plan, model: Model, contract: Contract,
        production: models.Bundle | None) -> models.Bundle:
    """Fit per ``plan`` and return the candidate with its metadata."""
    x, y = plan.rows[contract.features], plan.rows[contract.label].to_numpy()
    trained = sorted(plan.rows["batch_id"].unique().tolist())
    if plan.mode == "full":
        pipeline = models.fit_full(models.build(model, contract), x, y)
        return _bundle(pipeline, plan.mode, plan.note, model, contract, trained=trained, y=y,
                       seen=trained, schema=models.input_schema(contract, pipeline, x))
    pipeline = production.pipeline
    if plan.mode == "incremental":
        models.fit_incremental(pipeline, x, y)
    return _bundle(pipeline, plan.mode, plan.note, model, contract, trained=trained, y=y,
                   seen=sorted(set(production.meta["seen_batches"]) | set(trained)),
                   schema=production.meta["input_schema"], parent=production.meta["sha256"])


def fit_file(path: str | Path, note: str, model: Model, contract: Contract,
             reference_rows: int, fit_rows: int = FIT_ROWS) -> models.Bundle:
    """A full refit on a training Parquet file, read in chunks, with its reference sample.

    Up to ``fit_rows`` rows this is :func:`fit` of the whole file. Beyond, the transformer is
    fitted on ``fit_rows`` sampled rows plus the first row of each category value, and the
    estimator on float32 rows, split beforehand as HistGradientBoosting would split them for
    early stopping (the same model, without its copies of the matrix).
    """
    scan = streaming.scan(path, contract, fit_rows, reference_rows, model.seed)
    models.require_both_classes(scan.labels)
    pipeline = models.build(model, contract)
    transformer = pipeline.named_steps["features"].fit(scan.to_fit)
    fitted_on, scan.to_fit = len(scan.to_fit), None  # free them before the matrix
    estimator, labels = pipeline[-1], scan.labels
    if scan.rows <= fit_rows:
        [matrix] = streaming.transform(path, transformer, contract.features, scan.rows,
                                       np.float64)
        estimator.fit(matrix, labels)
    else:
        note += f" (features fitted on a sample of {fitted_on} rows)"
        _fit_large(estimator, path, transformer, contract, labels)
    bundle = _bundle(pipeline, "full", note, model, contract, trained=scan.batch_ids,
                     y=labels, seen=scan.batch_ids,
                     schema=models.input_schema(contract, pipeline, scan.extremes))
    bundle.reference = scan.reference.assign(score=bundle.predict_proba(scan.reference))
    return bundle


def _fit_large(estimator: Any, path: str | Path, transformer: Any, contract: Contract,
               labels: np.ndarray) -> None:
    """Fit on float32 rows; hand HistGradientBoosting its early-stopping split ready-made."""
    split = early_stopping_split(estimator, labels)
    matrices = streaming.transform(path, transformer, contract.features, len(labels),
                                   np.float32, parts=list(split) if split else None)
    if split is None:
        estimator.fit(matrices[0], labels)
        return
    y_train, y_held_out = labels[split[0]], labels[split[1]]
    del split  # the positions: as much memory as the labels
    estimator.fit(matrices[0], y_train, X_val=matrices[1], y_val=y_held_out)


def early_stopping_split(estimator: Any, labels: np.ndarray) -> tuple[np.ndarray, ...] | None:
    """The positions of the training and validation rows HistGradientBoosting's ``fit(X, y)``
    draws for early stopping (its seed, fraction and stratification), or None when it would
    draw none. Passing both parts to ``fit`` gives the same model without copying X."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split
    from sklearn.utils import check_random_state

    if not isinstance(estimator, HistGradientBoostingClassifier):
        return None
    fraction, rows = estimator.validation_fraction, len(labels)
    if fraction is None or estimator.early_stopping is False:
        return None
    held_out = fraction if isinstance(fraction, numbers.Integral) else math.ceil(fraction * rows)
    if estimator.early_stopping == "auto" and rows - held_out <= 10_000:
        return None  # fit(X, y) would not stop early, or fit(train, X_val=...) would not
    seed = check_random_state(estimator.random_state).randint(np.iinfo(np.uint32).max,
                                                               dtype="u8")
    return tuple(train_test_split(np.arange(rows), test_size=fraction, stratify=labels,
                                  random_state=seed))


def _bundle(pipeline: Any, mode: str, note: str, model: Model, contract: Contract, *,
            trained: list[str], y: np.ndarray, seen: list[str], schema: dict[str, Any],
            parent: str | None = None) -> models.Bundle:
    meta = {
        "kind": model.kind,
        "mode": mode,
        "note": note,
        "model_params": asdict(model),
        "threshold": model.threshold,
        "features": contract.features,
        "label": contract.label,
        "trained_batches": trained,
        "trained_rows": len(y),
        "seen_batches": seen,
        "parent_sha256": parent,
        "input_schema": schema,
        "output": {"classes": [0, 1], "probability_of": 1, "threshold": model.threshold},
        "label_rate": float(np.mean(y)) if len(y) else None,
    }
    return models.Bundle(pipeline=pipeline, meta=meta)
