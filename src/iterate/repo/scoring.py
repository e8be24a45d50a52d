"""Score a file with the production model, and log what was scored for monitoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from iterate.core import contract, training
from iterate.errors import IterateError
from iterate.params import Column, Compute, Contract
from iterate.repo import bundles, deploy, predlog, registry
from iterate.repo.layout import PREDICTIONS, PRODUCTION

SCHEMA_KEYS = ("dtype", "nullable", "min", "max", "values")
CHUNK_ROWS = 100_000  # predict.chunk_rows's default


def production_entry() -> dict:
    """The registry's entry of production (whose bundle is in place), or one line saying
    there is none yet."""
    entry = registry.current(deploy.read_registry())
    if entry is None or not bundles.exists(PRODUCTION):
        raise IterateError("predict: no production model yet; run `make run` or "
                           "`dvc repro && iterate promote` first")
    return entry


def production_bundle() -> tuple[training.Bundle, str]:
    """The production model, loaded only if its bytes match the registry; and its version."""
    entry = production_entry()
    return bundles.load_registered(PRODUCTION, entry), entry["version"]


def score(bundle: training.Bundle, version: str, frame: pd.DataFrame, where: str,
          keep: list[str] | tuple[str, ...] = (), row_offset: int = 0) -> tuple[
              pd.DataFrame, pd.DataFrame]:
    """Check ``frame`` against the model's input contract and score every row (a bad row is
    named by its number counting ``row_offset`` rows before ``frame``).

    Returns the rows with ``prediction_id``, ``probability``, ``predicted_label`` and
    ``model_version`` added, and the prediction log's rows (the typed features and the score,
    and the columns ``keep`` names that ``frame`` has and the features do not, as given: e.g.
    :func:`logged_context`, so a label that arrives later can land the row).
    """
    columns = {name: Column(**{k: spec.get(k) for k in SCHEMA_KEYS})
               for name, spec in bundle.meta["input_schema"].items()}
    features = contract.check_features(frame, columns, where, row_offset)
    proba = np.round(bundle.pipeline.predict_proba(features[bundle.meta["features"]])[:, 1], 6)
    threshold = bundle.meta["output"]["threshold"]
    ids = predlog.new_ids(len(frame))
    scored = frame.assign(prediction_id=ids, probability=proba,  # the label follows the
                          predicted_label=(proba >= threshold).astype(int),  # rounded score
                          model_version=version)
    context = [c for c in dict.fromkeys(keep) if c in frame and c not in features]
    logged = pd.concat([features, frame[context]], axis=1) if context else features
    return scored, predlog.rows(logged, proba, version, ids)


def logged_context(contract: Contract) -> list[str]:
    """The columns a logged row needs beside the model's features to land once labelled: the
    contract's time column and columns (``score(keep=...)``)."""
    return [contract.time_column, *contract.columns]


def predict(source: Path, out: Path, chunk_rows: int = CHUNK_ROWS,
            keep: list[str] | tuple[str, ...] = (), compute: Compute | None = None) -> tuple[
                str, int]:
    """Score ``source`` (a file, or a folder of Parquet parts) into ``out`` (CSV) and the
    prediction log (with the columns ``keep`` names, as :func:`score`), ``chunk_rows`` rows at
    a time (see :mod:`iterate.repo.prediction_stream`); nothing is published when any row
    breaks the contract. With ``compute.engine: dask`` each part is a task on the cluster and
    ``out`` a folder of CSV parts (:mod:`iterate.repo.partitioned`)."""
    from iterate.repo import prediction_stream

    if compute is not None and compute.engine == "dask":
        from iterate.repo import cluster, partitioned

        entry = production_entry()
        with cluster.session(compute) as client:
            rows = partitioned.predict(client, source, out, chunk_rows, list(keep), PRODUCTION,
                                       entry)
        return entry["version"], rows
    bundle, version = production_bundle()
    rows = prediction_stream.run(
        source, out, chunk_rows,
        lambda frame, where, offset: score(bundle, version, frame, where, keep, row_offset=offset))
    return version, rows


def prediction_drift(p) -> dict:
    """Drift of what production has scored (the prediction log of its version) against its
    training reference: every feature and the score, with the drift step's statistics.

    Labels are not known at scoring time, so the label rate is not compared here. When
    production has scored nothing yet, ``logs`` is 0 and ``reason`` says so (no drift keys).
    """
    from iterate.core import drift, policy

    bundle, version = production_bundle()
    logs = predlog.parts(version)
    if not logs:
        return {"version": version, "logs": 0, "rows": 0,
                "reason": f"no prediction log of v{version} in {PREDICTIONS} yet (`iterate "
                          "predict FILE` or `iterate serve` write it)"}
    scored = predlog.read(version)
    reference = bundles.read_reference(PRODUCTION)
    kinds = {**drift.kinds_from_schema(bundle.meta["input_schema"]), "score": "numeric"}
    report = drift.compare(reference[list(kinds)], scored[list(kinds)], kinds, p.drift)
    advice, reasons = policy.recommend(report, has_new_data=False)
    return {"version": version, "logs": len(logs), "rows": len(scored),
            "recommendation": advice, "reasons": reasons, **drift.to_dict(report)}
