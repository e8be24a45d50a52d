"""Decide what a training run does and describe the result: full refit, or an incremental
update of the production model on the batches it has not seen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from iterate import models
from iterate.errors import IterateError
from iterate.params import Contract, Model, asdict


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


def plan(mode: str, model: Model, train: pd.DataFrame, production: dict[str, Any] | None) -> Plan:
    """Choose the rows and the mode; ``production`` is the production model's metadata."""
    if mode == "full":
        return Plan("full", train, f"full refit on {len(train)} rows")
    if production is None:
        return Plan("full", train, "incremental asked, but no production model yet: full refit")
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
        seen, schema_rows = trained, x
    else:
        pipeline = production.pipeline
        if plan.mode == "incremental":
            models.fit_incremental(pipeline, x, y)
        seen = sorted(set(production.meta["seen_batches"]) | set(trained))
        schema_rows = None
    meta = {
        "kind": model.kind,
        "mode": plan.mode,
        "note": plan.note,
        "model_params": asdict(model),
        "threshold": model.threshold,
        "features": contract.features,
        "label": contract.label,
        "trained_batches": trained,
        "trained_rows": len(plan.rows),
        "seen_batches": seen,
        "parent_sha256": production.meta["sha256"] if production and plan.mode != "full" else None,
        "input_schema": (models.input_schema(contract, pipeline, schema_rows)
                         if schema_rows is not None else production.meta["input_schema"]),
        "output": {"classes": [0, 1], "probability_of": 1, "threshold": model.threshold},
        "label_rate": float(np.mean(y)) if len(y) else None,
    }
    return models.Bundle(pipeline=pipeline, meta=meta)
