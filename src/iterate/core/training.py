"""Fit and describe models: the full fit of a pipeline on given rows, or an incremental update
of the production model on the batches it has not seen.

A full fit is :func:`fit_features` (the transformer, on the rows given) then
:func:`fit_estimator` (the estimator, on the transformer's output): :func:`fit_full` does both
on a DataFrame (the backtest); :mod:`iterate.repo.streaming` supplies the rows and matrices of
a training file read in chunks (the train stage).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from iterate.core import batches, estimators, threshold
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
    """The unfitted Pipeline that the user's :func:`iterate.model.build` makes of ``model``,
    refused in one line when it is not a Pipeline of preprocessing steps and a classifier."""
    from sklearn.pipeline import Pipeline

    from iterate import model as model_file

    pipeline = model_file.build(contract, model)
    where = "src/iterate/model.py: build()"
    if not isinstance(pipeline, Pipeline) or len(pipeline.steps) < 2:
        raise IterateError(f"{where} returned {type(pipeline).__name__}, not a Pipeline of the "
                           "feature preprocessing and the classifier; return Pipeline([(\"features"
                           "\", ...), (\"estimator\", ...)])")
    if not hasattr(pipeline[-1], "predict_proba"):
        raise IterateError(f"{where}: its last step {type(pipeline[-1]).__name__} has no "
                           "predict_proba; end the Pipeline with a classifier")
    return pipeline


def require_incremental(mode: str, pipeline: Pipeline, model: Model) -> None:
    """Refuse ``train.mode`` incremental or auto for a classifier without ``partial_fit``."""
    if mode in ("incremental", "auto") and not estimators.learns_incrementally(pipeline):
        raise IterateError(
            f"train.mode: {mode} continues the model with partial_fit, which "
            f"{estimators.label(pipeline)} ({model.estimator}) does not have; set train.mode: "
            "full, or model.estimator to one that has it (e.g. "
            "sklearn.linear_model.SGDClassifier)")


def require_streamable(fit: str, pipeline: Pipeline, model: Model) -> None:
    """Refuse ``train.fit: stream`` for a classifier without ``partial_fit``."""
    if fit == "stream" and not estimators.learns_incrementally(pipeline):
        raise IterateError(
            f"train.fit: stream trains the classifier by passes of partial_fit, which "
            f"{estimators.label(pipeline)} ({model.estimator}) does not have; set train.fit: "
            "whole, or model.estimator to one that has it (e.g. "
            "sklearn.linear_model.SGDClassifier)")


def learn(estimator: Any, x: Any, y: np.ndarray) -> Any:
    """One step of a streamed fit: ``partial_fit`` of the transformer's output ``x`` of some
    training rows; returns the estimator."""
    estimator.partial_fit(x, y, classes=CLASSES)
    return estimator


EARLY_STOPPING_ROWS = 10_000  # HistGradientBoosting's "auto": early stopping above this


def fit_full(model: Model, contract: Contract, x: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """A full fit of a new pipeline on the rows ``x`` with labels ``y``."""
    return fit_built(build(model, contract), x, y, model.seed)


def fit_built(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray, seed: int) -> Pipeline:
    """A full fit of the unfitted ``pipeline`` (see :func:`build`) on ``x`` and ``y``."""
    fit_features(pipeline, x, y)
    split = validation_split(pipeline[-1], y, seed)
    parts = [x] if split is None else [x.iloc[rows] for rows in split]
    return fit_estimator(pipeline, [pipeline[:-1].transform(part) for part in parts], y, split)


def fit_features(pipeline: Pipeline, rows: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """``pipeline`` with its preprocessing steps fitted on ``rows`` (its classifier is not
    fitted yet); ``y`` are the labels of every training row."""
    require_both_classes(y)
    pipeline[:-1].fit(rows)
    return pipeline


def validation_split(estimator: Any, y: np.ndarray,
                     seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The positions of the training and validation rows of HistGradientBoosting's early
    stopping: a stratified split of its ``validation_fraction``, drawn with the model's seed, when
    there are more than ``EARLY_STOPPING_ROWS`` rows; None when it does not stop early."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.model_selection import train_test_split

    if not isinstance(estimator, HistGradientBoostingClassifier) or len(y) <= EARLY_STOPPING_ROWS:
        return None
    return tuple(train_test_split(np.arange(len(y)), test_size=estimator.validation_fraction,
                                  stratify=y, random_state=seed))


def fit_estimator(pipeline: Pipeline, matrices: list[Any], y: np.ndarray,
                  split: tuple[np.ndarray, np.ndarray] | None) -> Pipeline:
    """Fit the final estimator on the transformer's output: ``matrices`` holds the training
    rows' (without ``split``) or the training and validation parts' (with it), so no matrix is
    copied. HistGradientBoosting stops early on the validation part, or never without one."""
    estimator = pipeline[-1]
    if split is None:
        if isinstance(estimator.get_params(deep=False).get("early_stopping"), str):
            estimator.set_params(early_stopping=False)  # HistGradientBoosting's "auto"
        estimator.fit(matrices[0], y)
    else:
        train, held_out = split
        estimator.set_params(early_stopping=True).fit(
            matrices[0], y[train], X_val=matrices[1], y_val=y[held_out])
    return pipeline


def require_both_classes(y: np.ndarray) -> None:
    if len(np.unique(y)) < 2:
        raise IterateError("train: the training rows hold one class only; widen split.window "
                           "or land more batches")


def fit_incremental(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """Continue the final estimator with ``partial_fit`` on the frozen transformer's output."""
    estimator = pipeline[-1]
    if not estimators.learns_incrementally(pipeline):
        raise IterateError(
            f"train: {type(estimator).__name__} cannot learn incrementally (no partial_fit); "
            "set train.mode: full in params.yaml")
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
    """The categories of each column that an encoder of the preprocessing was fitted on."""
    found: dict[str, list[str]] = {}
    for _, transformer in pipeline.steps[:-1]:
        for _, step, columns in getattr(transformer, "transformers_", []):
            if hasattr(step, "categories_") and isinstance(columns, list):
                found.update({c: sorted(str(v) for v in cats if isinstance(v, str))
                              for c, cats in zip(columns, step.categories_, strict=True)})
    return found


@dataclass(frozen=True)
class Plan:
    mode: str  # "incremental" | "unchanged"
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


def plan(model: Model, train: pd.DataFrame, production: dict[str, Any]) -> Plan:
    """The rows of an incremental update: those of the training batches after the last one the
    production model has seen (``production`` is its metadata)."""
    was = production["model_params"].get("estimator")
    if was != model.estimator:
        raise IterateError(
            f"train: train.mode incremental continues the production model ({was}), but "
            f"model.estimator is {model.estimator}; set train.mode: full to switch estimators")
    last = batches.order_key(production["seen"]["last"])
    unseen = train[train["batch_id"].map(lambda b: batches.order_key(b) > last)]
    if unseen.empty:
        return Plan("unchanged", unseen, "production has seen every training batch: unchanged")
    return Plan("incremental", unseen,
                f"partial_fit on {len(unseen)} rows of {unseen['batch_id'].nunique()} unseen "
                "batch(es)")


def update(plan: Plan, model: Model, contract: Contract, production: Bundle) -> Bundle:
    """The production model continued on the plan's rows (or unchanged), with its metadata."""
    x, y = plan.rows[contract.features], plan.rows[contract.label].to_numpy()
    trained = sorted(plan.rows["batch_id"].unique().tolist(), key=batches.order_key)
    pipeline = production.pipeline
    if plan.mode == "incremental":
        fit_incremental(pipeline, x, y)
    return describe(pipeline, plan.mode, plan.note, model, contract, trained=trained, y=y,
                    seen=seen_after(production.meta["seen"], trained),
                    schema=production.meta["input_schema"], parent=production.meta["sha256"])


def seen_range(trained: list[str]) -> dict[str, Any]:
    """What a model fitted from scratch on the batches ``trained`` (in time order) has seen."""
    return {"first": trained[0] if trained else None, "last": trained[-1] if trained else None,
            "count": len(trained)}


def seen_after(seen: dict[str, Any], trained: list[str]) -> dict[str, Any]:
    """``seen`` extended by the batches ``trained`` (in time order, all after ``seen``'s last):
    its first, last and count, never the list, so metadata stays the same size over time."""
    if not trained:
        return seen
    return {"first": seen["first"] or trained[0], "last": trained[-1],
            "count": seen["count"] + len(trained)}


def describe(pipeline: Any, mode: str, note: str, model: Model, contract: Contract, *,
             trained: list[str], y: np.ndarray, seen: dict[str, Any], schema: dict[str, Any],
             parent: str | None = None) -> Bundle:
    """The bundle of a fitted ``pipeline``: its own batches (``trained``) and the range and
    count of every batch it has learnt from (``seen``, see :func:`seen_range`). A threshold
    rule's number is recorded later, by :func:`keep_reference`."""
    cut = None if isinstance(model.threshold, str) else model.threshold
    meta = {
        "kind": estimators.label(pipeline),
        "mode": mode,
        "note": note,
        "model_params": asdict(model),
        "threshold": cut,
        "features": contract.features,
        "label": contract.label,
        "trained_batches": trained,
        "trained_rows": len(y),
        "seen": seen,
        "parent_sha256": parent,
        "input_schema": schema,
        "output": {"classes": [0, 1], "probability_of": 1, "threshold": cut},
        "label_rate": float(np.mean(y)) if len(y) else None,
    }
    return Bundle(pipeline=pipeline, meta=meta)


def keep_reference(bundle: Bundle, rows: pd.DataFrame, model: Model) -> Bundle:
    """Keep ``rows`` (training rows: features and label) with the model's scores as its drift
    reference, and record its decision threshold: ``model.threshold``'s number, or its rule
    applied to these in-sample scores (:func:`iterate.core.threshold.choose`)."""
    bundle.reference = rows.assign(score=bundle.predict_proba(rows))
    cut = threshold.choose(model.threshold, rows[bundle.meta["label"]].to_numpy(),
                           bundle.reference["score"].to_numpy())
    bundle.meta["threshold"] = bundle.meta["output"]["threshold"] = cut
    return bundle
