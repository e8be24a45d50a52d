"""Outcomes that arrive later: join a label file to the prediction log, and the realised
performance of each served version once labels are in.

:func:`join` takes a label file's rows (``prediction_id``, the contract's label, optionally
an outcome time) and the log; it returns the rows to land (the contract's columns, as the log
holds them, with the label) and the rows that cannot land, each with its reason. Pure: frames
in, frames out.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from iterate.core import evaluate
from iterate.core.contract import Reasons, parse_times
from iterate.errors import ContractError
from iterate.params import Contract

PREDICTION_ID = "prediction_id"
SCORED_AT = "scored_at"
VERSION = "model_version"
SHADOW_PREFIX = "shadow-"  # the version label of a shadow model's logged rows
SCORE = "score"
BUCKETS = {"day": "D", "week": "W-SUN", "month": "M"}  # weeks start on Monday


@dataclass(frozen=True)
class Joined:
    """A label file joined to the log: ``rows`` to land (the contract's columns) with their
    ``ids`` and 1-based ``source_rows``; ``bad``: the file's rows that cannot, with reasons."""

    rows: pd.DataFrame
    ids: pd.Series
    source_rows: np.ndarray
    bad: pd.DataFrame


def join(labels: pd.DataFrame, log: pd.DataFrame, contract: Contract, labelled: pd.Series, *,
         time_column: str, after: str | None, where: str) -> Joined:
    """Join ``labels`` (a label file as read) to ``log`` (the prediction log) on prediction ID.

    ``labelled`` maps the IDs labelled before to the batch they landed in; ``after`` is the
    newest landed batch's end (ISO 8601): a row whose time is not after it cannot land, since
    the loop learns its batches in time order. A row is quarantined when its ID is missing,
    unknown to the log, labelled before, or repeated in the file, or when its outcome time
    (``time_column``, optional) is not a time or comes before its prediction was scored.
    """
    label = contract.label
    _check_columns(labels, contract, time_column, where)
    labels = labels.reset_index(drop=True)
    if labels.empty:
        raise ContractError(f"{where}: no data rows (only a header, or nothing); give a label "
                            "file with at least one row")
    n = len(labels)
    reasons = Reasons(n)
    ids = labels[PREDICTION_ID].astype("string").str.strip()
    missing = ids.isna().to_numpy() | (ids.fillna("") == "").to_numpy()
    reasons.flag(missing, f"{PREDICTION_ID}: missing")
    shadow = log[VERSION].astype(str).str.startswith(SHADOW_PREFIX).to_numpy() \
        if VERSION in log else np.zeros(len(log), dtype=bool)
    first = log[~shadow].drop_duplicates(PREDICTION_ID).set_index(PREDICTION_ID)  # not a shadow's
    known = ids.isin(first.index).to_numpy()
    reasons.flag(~missing & ~known, f"{PREDICTION_ID}: not in the prediction log (unknown ID, "
                 "or its prediction was never logged)")
    before = ids.map(labelled)
    texts = np.array([f"{PREDICTION_ID}: labelled before (landed in batch {b})"
                      if isinstance(b, str) else "" for b in before], dtype=object)
    reasons.flag(texts != "", texts)
    reasons.flag(*_repeats(ids.where(~missing), labels[label]))
    if time_column in labels:
        _check_outcome_times(labels[time_column], ids, first, known, contract, reasons,
                             time_column)
    rows = _rows(labels, ids, first, contract, ok=reasons.ok)
    if after is not None and len(rows):
        times, _ = parse_times(rows[contract.time_column], contract.timezone)
        old = (times <= pd.Timestamp(after)).to_numpy(dtype=bool)
        stale = np.zeros(n, dtype=bool)
        stale[np.flatnonzero(reasons.ok)[old]] = True
        reasons.flag(stale, f"{contract.time_column}: not after the newest landed batch (it "
                     f"ends {after}); the loop learns batches in time order, so an outcome "
                     "from before it cannot land")
        rows = rows[~old]
    ok = reasons.ok
    bad = labels.loc[~ok].copy()
    bad.insert(0, "source_row", np.flatnonzero(~ok) + 1)
    bad["reason"] = reasons.texts[~ok]
    return Joined(rows=rows.reset_index(drop=True), ids=ids[ok].reset_index(drop=True),
                  source_rows=np.flatnonzero(ok) + 1, bad=bad.reset_index(drop=True))


def _check_columns(labels: pd.DataFrame, contract: Contract, time_column: str,
                   where: str) -> None:
    """Refuse a label file without its two columns, or (``contract.extra_columns: refuse``)
    with others."""
    needed = [PREDICTION_ID, contract.label]
    missing = [c for c in needed if c not in labels.columns]
    if missing:
        raise ContractError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))} (columns found: "
            f"{', '.join(map(str, labels.columns)) or 'none'}); a label file has "
            f"{PREDICTION_ID!r}, the label {contract.label!r} (contract.label) and optionally "
            f"{time_column!r} (labels.time_column)")
    extra = [c for c in labels.columns if c not in (*needed, time_column)]
    if extra and contract.extra_columns == "refuse":
        raise ContractError(
            f"{where}: column(s) {', '.join(map(repr, extra))} are not a label file's; remove "
            "them, or set contract.extra_columns: drop")
    if labels.columns.duplicated().any():
        raise ContractError(f"{where}: column {labels.columns[labels.columns.duplicated()][0]!r}"
                            " appears twice; keep one")


def _repeats(ids: pd.Series, label: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(mask, reasons) of the rows whose ID the file gives more than once: every row of an ID
    labelled differently, and all but the first of an ID labelled the same each time."""
    texts = np.full(len(ids), "", dtype=object)
    repeated = ids.notna() & ids.duplicated(keep=False)
    if repeated.any():
        values = label.astype("string").str.strip()
        for _, group in ids[repeated].groupby(ids[repeated], sort=False):
            at = [ids.index.get_loc(i) for i in group.index]
            rows = ", ".join(str(i + 1) for i in at)
            if values.iloc[at].nunique(dropna=False) > 1:
                texts[at] = f"{PREDICTION_ID}: conflicting labels on rows {rows}; keep the true one"
            else:
                texts[at[1:]] = f"{PREDICTION_ID}: a duplicate of row {at[0] + 1}"
    return texts != "", texts


def _check_outcome_times(raw: pd.Series, ids: pd.Series, log: pd.DataFrame, known: np.ndarray,
                         contract: Contract, reasons: Reasons, column: str) -> None:
    """Flag outcome times that are not times, and those before their prediction's."""
    times, unreadable = parse_times(raw, contract.timezone)
    given = ~(raw.isna().to_numpy() | (raw.astype("string").str.strip().fillna("") == "")
              .to_numpy())
    reasons.flag(given & unreadable, f"{column}: not an ISO 8601 date or timestamp")
    scored = pd.Series(pd.NaT, index=ids.index, dtype="datetime64[us, UTC]")
    scored[known] = pd.to_datetime(log.loc[ids[known], SCORED_AT].to_numpy(), utc=True)
    early = (times < scored).fillna(False).to_numpy(dtype=bool)
    texts = np.full(len(ids), "", dtype=object)
    texts[early] = [f"{column}: {t.isoformat()} is before the prediction was scored "
                    f"({s.isoformat()})" for t, s in zip(times[early], scored[early], strict=True)]
    reasons.flag(early, texts)


def _rows(labels: pd.DataFrame, ids: pd.Series, log: pd.DataFrame, contract: Contract,
          ok: np.ndarray) -> pd.DataFrame:
    """The rows to land: each contract column as the log holds it (missing: empty, for the
    contract to judge), and the label as the file gives it."""
    matched = log.reindex(ids[ok].to_numpy())
    out = pd.DataFrame(index=range(int(ok.sum())))
    for name in (contract.time_column, *contract.columns):
        out[name] = matched[name].to_numpy() if name in matched else None
    out[contract.label] = labels[contract.label].to_numpy()[ok]
    return out


def refuse_if_mostly_bad(where: str, contract: Contract, n: int, bad: pd.DataFrame) -> None:
    """Refuse a label file whose joined and contract-checked rows are mostly bad, as landing
    refuses a batch (``contract.max_bad_share``, ``contract.min_rows``)."""
    if len(bad) / n > contract.max_bad_share:
        first = bad.iloc[0]
        raise ContractError(
            f"{where}: {len(bad)} of {n} labels cannot land ({len(bad) / n:.0%} > "
            f"max_bad_share {contract.max_bad_share:.0%}); first, row {first['source_row']}: "
            f"{first['reason']}. Check the file is the labels of this repository's predictions")
    if n - len(bad) < max(contract.min_rows, 1):
        raise ContractError(f"{where}: only {n - len(bad)} labels can land, fewer than "
                            f"contract.min_rows ({contract.min_rows}); label more at once")


# --------------------------------------------------------------------------- realised


def realised(frame: pd.DataFrame, thresholds: dict[str, float], bucket: str, *,
             confidence: float, resamples: int, seed: int) -> dict:
    """Each version's metrics, with CIs, per ``bucket`` (day, week, month) of when it scored.

    ``frame`` holds ``model_version``, ``scored_at``, ``score`` and ``label`` (0/1) of every
    labelled prediction; ``thresholds`` each version's cut. A period's row gives its rows,
    positives and every metric as ``{"value", "low", "high"}`` (None where undefined, e.g.
    ROC AUC of one class).
    """
    versions: dict[str, list[dict]] = {}
    if len(frame):
        scored = pd.to_datetime(frame[SCORED_AT], utc=True).dt.tz_localize(None)
        period = scored.dt.to_period(BUCKETS[bucket]).dt.start_time.dt.strftime("%Y-%m-%d")
        for (version, start), rows in frame.groupby([frame[VERSION].astype(str), period],
                                                    sort=True):
            y = rows["label"].to_numpy(dtype=int)
            metrics = evaluate.describe(y, rows[SCORE].to_numpy(dtype=float),
                                        thresholds[version], confidence=confidence,
                                        resamples=resamples, seed=seed)
            versions.setdefault(version, []).append(
                {"period": start, "rows": int(len(y)), "positives": int(y.sum()),
                 **evaluate.to_dict(metrics)})
    return {"bucket": bucket, "confidence": confidence, "labelled": int(len(frame)),
            "versions": versions}
