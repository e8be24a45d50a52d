"""Decide what a training run does and describe the result: full refit, or an incremental
update of the production model on the batches it has not seen.

A full refit of a training file (:func:`fit_file`) streams it: up to ``FIT_ROWS`` rows it gives
the very model :func:`fit` gives on the same rows as a DataFrame; beyond, the feature
transformer is fitted on a sample and the estimator on a float32 matrix, to bound memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from iterate.errors import IterateError
from iterate.params import Contract, Model, asdict

if TYPE_CHECKING:  # sklearn loads only where a model is built
    from sklearn.pipeline import Pipeline

CLASSES = np.array([0, 1])


@dataclass
class Bundle:
    pipeline: Pipeline
    meta: dict[str, Any] = field(default_factory=dict)
    reference: pd.DataFrame | None = None

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for each row."""
        return self.pipeline.predict_proba(frame[self.meta["features"]])[:, 1]


def build(model: Model, contract: Contract) -> Pipeline:
    """An unfitted Pipeline of the contract's transformer and the chosen estimator."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline

    from iterate.core import features

    settings = model.settings
    if model.kind == "hist_gradient_boosting":
        transformer, categorical = features.for_tree_model(contract)
        estimator = HistGradientBoostingClassifier(
            categorical_features=categorical or None, random_state=model.seed, **settings)
    else:
        transformer = features.for_linear_model(contract)
        estimator = SGDClassifier(loss="log_loss", random_state=model.seed, tol=None, **settings)
    return Pipeline([("features", transformer), ("estimator", estimator)])


def fit_full(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray) -> Pipeline:
    require_both_classes(y)
    return pipeline.fit(x, y)


def require_both_classes(y: np.ndarray) -> None:
    if len(np.unique(y)) < 2:
        raise IterateError("train: the training rows hold one class only; widen split.window "
                           "or land more batches")


def fit_incremental(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """Continue the final estimator with ``partial_fit`` on the frozen transformer's output."""
    estimator = pipeline[-1]
    if not hasattr(estimator, "partial_fit"):
        raise IterateError(
            f"train: {type(estimator).__name__} cannot learn incrementally; set "
            "train.mode: full (or model.kind: sgd_logistic) in params.yaml")
    estimator.partial_fit(pipeline[:-1].transform(x), y, classes=CLASSES)
    return pipeline


def input_schema(contract: Contract, pipeline: Pipeline, x: pd.DataFrame) -> dict[str, Any]:
    """What the model accepts: per column the contract's dtype, nullability and range, the
    categories its transformer knows and the range seen in """
    categories = _known_categories(pipeline)
    columns = {}
    for name, col in contract.columns.items():
        entry: dict[str, Any] = {"dtype": col.dtype, "nullable": col.nullable,
                                 "min": col.min, "max": col.max}
        if col.dtype == "category":
            entry["values"] = col.values
            entry["categories"] = categories.get(name, [])
        elif len(x) and x[name].notna().any():
            entry["seen_min"], entry["seen_max"] = float(x[name].min()), float(x[name].max())
        columns[name] = entry
    return columns


def _known_categories(pipeline: Pipeline) -> dict[str, list[str]]:
    transformer = pipeline.named_steps["features"]
    for name, step, columns in transformer.transformers_:
        if name == "categorical" and hasattr(step, "categories_"):
            return {c: sorted(str(v) for v in cats if isinstance(v, str))
                    for c, cats in zip(columns, step.categories_, strict=True)}
    return {}


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
        production: Bundle | None) -> Bundle:
    """Fit per ``plan`` and return the candidate with its metadata."""
    x, y = plan.rows[contract.features], plan.rows[contract.label].to_numpy()
    trained = sorted(plan.rows["batch_id"].unique().tolist())
    if plan.mode == "full":
        pipeline = fit_full(build(model, contract), x, y)
        return describe(pipeline, plan.mode, plan.note, model, contract, trained=trained, y=y,
                       seen=trained, schema=input_schema(contract, pipeline, x))
    pipeline = production.pipeline
    if plan.mode == "incremental":
        fit_incremental(pipeline, x, y)
    return describe(pipeline, plan.mode, plan.note, model, contract, trained=trained, y=y,
                   seen=sorted(set(production.meta["seen_batches"]) | set(trained)),
                   schema=production.meta["input_schema"], parent=production.meta["sha256"])


def describe(pipeline: Any, mode: str, note: str, model: Model, contract: Contract, *,
            trained: list[str], y: np.ndarray, seen: list[str], schema: dict[str, Any],
            parent: str | None = None) -> Bundle:
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
    return Bundle(pipeline=pipeline, meta=meta)
