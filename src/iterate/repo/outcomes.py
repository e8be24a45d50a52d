"""Labels that arrive later, on disk: join a label file to the prediction log and land the
joined rows as a batch (the landing's contract and files), and record which predictions'
labels landed where (``data/predictions/labels/<batch>.parquet``, beside the log).

A batch's record of labels is written before the batch itself, and a record counts only once
its batch has landed, so a landing killed in between leaves no label counted twice or lost.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pandas as pd

from iterate.core import outcomes
from iterate.errors import ContractError
from iterate.params import Params
from iterate.repo import atomic, deploy, landing, predlog, registry, store
from iterate.repo.layout import LABELS, QUARANTINE, RAW

BATCH = "batch"
LABEL = "label"


@dataclasses.dataclass(frozen=True)
class Labelled:
    """A label file checked and joined: the batch to land, and the record of its labels."""

    batch: landing.Checked
    record: pd.DataFrame  # prediction_id, label, batch: the labels that land


def read_record(columns: list[str] | None = None, folder: Path = LABELS,
                raw_dir: Path = RAW) -> pd.DataFrame:
    """Every landed label: ``prediction_id``, ``label`` and the ``batch`` it landed in (the
    records of batches that have landed only)."""
    parts = [p for p in sorted(folder.glob("*.parquet"))
             if store.batch_path(raw_dir, p.stem).exists()]
    if not parts:
        return pd.DataFrame({outcomes.PREDICTION_ID: pd.Series(dtype=str),
                             LABEL: pd.Series(dtype="int64"), BATCH: pd.Series(dtype=str)},
                            columns=columns)
    return pd.concat([pd.read_parquet(p, columns=columns) for p in parts], ignore_index=True)


def check(frame: pd.DataFrame, p: Params, *, sha256: str, source: str,
          where: str | None = None) -> Labelled:
    """Join ``frame`` (a label file as read) to the prediction log and check the joined rows
    as ``iterate land`` checks a batch; nothing is written. Raises
    :class:`~iterate.errors.ContractError` in one line when the file cannot land."""
    where = where or source
    landed = store.list_batches(RAW)
    record = read_record([outcomes.PREDICTION_ID, BATCH])
    joined = outcomes.join(frame, predlog.read(), p.contract,
                           record.set_index(outcomes.PREDICTION_ID)[BATCH],
                           time_column=p.labels.time_column,
                           after=landed[-1].end if landed else None, where=where)
    if joined.rows.empty:
        first = joined.bad.iloc[0]
        raise ContractError(f"{where}: none of its {len(joined.bad)} labels can land; first, row "
                            f"{first['source_row']}: {first['reason']}")
    outcomes.refuse_if_mostly_bad(where, p.contract, len(frame), joined.bad)
    # the share of bad rows is judged on the whole file (again below), with its row numbers
    lenient = dataclasses.replace(p.contract, max_bad_share=1.0)
    batch = landing.check(joined.rows, lenient, landed, sha256=sha256, source=source,
                          raw_dir=RAW, where=where)
    at = batch.bad["source_row"].to_numpy() - 1  # rows of the joined frame the contract refused
    refused = batch.bad.assign(source_row=joined.source_rows[at])
    refused.insert(1, outcomes.PREDICTION_ID, joined.ids.to_numpy()[at])
    bad = pd.concat([joined.bad, refused], ignore_index=True).sort_values(
        "source_row", kind="stable").reset_index(drop=True)
    bad = bad[[c for c in bad.columns if c != "reason"] + ["reason"]]
    outcomes.refuse_if_mostly_bad(where, p.contract, len(frame), bad)
    kept = joined.rows.index.difference(at)
    labels = pd.to_numeric(joined.rows[p.contract.label].iloc[kept]).astype("int64")
    batch = dataclasses.replace(batch, bad=bad,
                                info=dataclasses.replace(batch.info, quarantined=len(bad)))
    record = pd.DataFrame({outcomes.PREDICTION_ID: joined.ids.iloc[kept].astype(str).to_numpy(),
                           LABEL: labels.to_numpy(), BATCH: batch.info.id})
    return Labelled(batch, record)


def write(labelled: Labelled, folder: Path = LABELS) -> None:
    """The record of the labels, then the batch (which counts once its file is in place)."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_with(folder / f"{labelled.batch.info.id}.parquet",
                      lambda tmp: labelled.record.to_parquet(tmp, index=False))
    landing.write(labelled.batch, RAW, QUARANTINE)


def label_file(path: Path, p: Params) -> Labelled:
    """Check the label file ``path`` (CSV or Parquet) and land its joined rows; production is
    verified before anything is written (the landing pins the baseline from it)."""
    labelled = check(landing.read_table(path), p, sha256=landing.file_sha256(path),
                     source=str(path))
    deploy.verify_production()
    write(labelled)
    return labelled


def realised(p: Params) -> dict:
    """The realised performance of every version with landed labels, per ``labels.bucket`` of
    when it scored (:func:`iterate.core.outcomes.realised`)."""
    record = read_record([outcomes.PREDICTION_ID, LABEL])
    log = predlog.read(columns=[outcomes.PREDICTION_ID, outcomes.SCORED_AT, outcomes.VERSION,
                                outcomes.SCORE]) if len(record) else record.iloc[:0]
    frame = log.merge(record, on=outcomes.PREDICTION_ID) if len(record) else pd.DataFrame()
    entries = deploy.read_registry()
    thresholds = {e["version"]: e.get("threshold") or e["model_params"]["threshold"]
                  for e in entries if e["action"] == registry.PROMOTE}  # older: no "threshold"
    current = registry.current(entries)
    # a version the registry does not hold (a shadow): model.threshold, or production's number
    # when model.threshold is a rule
    fallback = p.model.threshold if not isinstance(p.model.threshold, str) else \
        thresholds.get(current["version"]) if current else 0.5
    versions = frame[outcomes.VERSION].astype(str).unique() if len(frame) else []
    cuts = {v: float(thresholds.get(v, fallback)) for v in versions}
    e = p.evaluate
    return outcomes.realised(frame, cuts, p.labels.bucket, confidence=e.confidence,
                             resamples=e.resamples, seed=e.seed)
