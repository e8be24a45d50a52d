"""The data contract: check a raw batch row by row, split it into good rows and bad rows.

A batch-level problem (a missing column, no rows, too many bad rows) raises
:class:`~iterate.errors.ContractError`; row-level problems put the row in ``bad`` with a
``reason`` naming every broken column, and the rest of the batch lands.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from iterate.errors import ContractError
from iterate.params import Column, Contract

# a time of day followed by a zone: Z, +hh, +hhmm or +hh:mm
TZ_SUFFIX = r"\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?\s*(?:Z|[+-]\d{2}(?::?\d{2})?)$"
# a date, or a date and a time of day, without a zone: read in contract.timezone
ZONELESS = r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
TIME_DTYPE = "datetime64[us, UTC]"  # microseconds: years 1..9999, unlike nanoseconds
EARLIEST = pd.Timestamp("1900-01-01", tz="UTC")
EXACT_INT = 2**53  # integers beyond this are not exact in float64
MAX_TEXT_LENGTH = 200  # a category value longer than this is a broken export, not a category


@dataclass(frozen=True)
class Validation:
    good: pd.DataFrame  # typed: time as UTC timestamps, numbers as float/int, categories as str
    bad: pd.DataFrame  # the rows as they came, plus `source_row` (1-based) and `reason`
    warnings: tuple[str, ...] = ()  # about the batch, without refusing it (one class only)


def required_columns(contract: Contract) -> list[str]:
    return [contract.time_column, *contract.columns, contract.label]


def check_columns(frame: pd.DataFrame, contract: Contract, where: str) -> pd.DataFrame:
    """Return ``frame`` restricted to the contract's columns, or raise naming what is wrong."""
    required = required_columns(contract)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise ContractError(
            f"{where}: missing column(s) {', '.join(map(repr, missing))} required by the "
            f"contract (columns found: {', '.join(map(str, frame.columns)) or 'none'}); "
            f"rename them in the file or change {' and '.join(_keys_of(missing, contract))} "
            "in params.yaml"
        )
    extra = [c for c in frame.columns if c not in required]
    if extra and contract.extra_columns == "refuse":
        raise ContractError(
            f"{where}: column(s) {', '.join(map(repr, extra))} are not in the contract; remove "
            "them, add them to contract.columns, or set contract.extra_columns: drop"
        )
    if frame.columns.duplicated().any():
        dup = frame.columns[frame.columns.duplicated()][0]
        raise ContractError(f"{where}: column {dup!r} appears twice; keep one")
    return frame[required]


def _keys_of(names: list[str], contract: Contract) -> list[str]:
    """The params keys that name the columns ``names``, in the contract's order."""
    keys = {contract.time_column: "contract.time_column", contract.label: "contract.label"}
    return list(dict.fromkeys(keys.get(name, "contract.columns") for name in names))


def validate(frame: pd.DataFrame, contract: Contract, where: str = "batch") -> Validation:
    """Check every row of ``frame`` against ``contract``.

    Parameters
    ----------
    frame : DataFrame
        The batch as read: strings (from CSV) or typed columns (from Parquet).
    contract : Contract
        Columns, dtypes, ranges, label classes and the time column.
    where : str
        Names the batch in error messages (usually its path).
    """
    checked = check_rows(frame, contract, where)
    if checked.rows == 0:
        raise ContractError(f"{where}: no data rows (only a header, or nothing); land a file "
                            "with at least one row")
    good = sort_good(checked.good, contract)
    bad = checked.bad
    first = (int(bad["source_row"].iloc[0]), str(bad["reason"].iloc[0])) if len(bad) else None
    refuse_batch(where, contract, checked.rows, len(bad), first)
    return Validation(good=good, bad=bad,
                      warnings=tuple(filter(None, [one_class_warning(contract, good)])))


@dataclass(frozen=True)
class RowCheck:
    """The row-level verdicts on one part of a batch (all of it, or one partition)."""

    rows: int
    good: pd.DataFrame  # typed, in the part's order (:func:`sort_good` orders them by time)
    bad: pd.DataFrame  # as they came, plus `source_row` (counting the rows before the part)


def check_rows(frame: pd.DataFrame, contract: Contract, where: str,
               row_offset: int = 0) -> RowCheck:
    """Check each row of ``frame`` (the columns first, the whole batch's rule): the verdicts the
    batch-level rules (:func:`refuse_batch`) judge, whether ``frame`` is the batch or one of its
    parts (its first row being row ``row_offset + 1`` of the batch)."""
    frame = check_columns(frame, contract, where)
    if frame.empty:
        return RowCheck(0, pd.DataFrame(columns=required_columns(contract)),
                        frame.assign(source_row=pd.Series(dtype="int64"),
                                     reason=pd.Series(dtype=object)))
    reasons = Reasons(len(frame))
    typed: dict[str, pd.Series] = {}
    typed[contract.time_column], bad_time = parse_times(frame[contract.time_column],
                                                        contract.timezone)
    reasons.flag(bad_time, f"{contract.time_column}: not an ISO 8601 date or timestamp (a "
                 f"zone-less one must exist in contract.timezone, {contract.timezone})")
    reasons.flag(_implausible_time(typed[contract.time_column]),
                 f"{contract.time_column}: before 1900 or in the future")
    typed.update(_check_features(frame, contract.columns, reasons))
    flag = reasons.flag

    label = pd.to_numeric(frame[contract.label], errors="coerce")
    flag(_is_missing(frame[contract.label]), f"{contract.label}: missing label")
    outside = label.notna().to_numpy() & ~label.isin(contract.classes).to_numpy()
    flag(outside | (~_is_missing(frame[contract.label]) & label.isna().to_numpy()),
         f"{contract.label}: not one of the classes {contract.classes}")
    typed[contract.label] = label

    ok = reasons.ok
    good = pd.DataFrame({k: v.to_numpy()[ok] for k, v in typed.items()})
    for name in contract.of_dtype("int"):
        if not contract.columns[name].nullable:
            good[name] = good[name].astype("int64")
    good[contract.label] = good[contract.label].astype("int64")

    bad = frame.loc[~ok].copy()
    bad.insert(0, "source_row", row_offset + np.flatnonzero(~ok) + 1)
    bad["reason"] = reasons.texts[~ok]
    return RowCheck(len(frame), good, bad.reset_index(drop=True))


def sort_good(good: pd.DataFrame, contract: Contract) -> pd.DataFrame:
    """The good rows in the order they land: by time, ties in their order (stable)."""
    return good.sort_values(contract.time_column, kind="stable").reset_index(drop=True)


def check_features(frame: pd.DataFrame, columns: dict[str, Column], where: str,
                   row_offset: int = 0) -> pd.DataFrame:
    """Typed feature columns of ``frame``, for scoring: every row must be good.

    Other columns are ignored; a missing column or any bad row raises, naming the first one
    (its row number counts ``row_offset`` rows before ``frame``: a chunk of a larger file).
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ContractError(f"{where}: missing column(s) {', '.join(map(repr, missing))} that "
                            "the production model needs; add them to the file")
    if frame.empty:
        raise ContractError(f"{where}: no data rows; give a file with at least one row")
    reasons = Reasons(len(frame))
    typed = _check_features(frame, columns, reasons)
    if not reasons.ok.all():
        first = int(np.flatnonzero(~reasons.ok)[0])
        raise ContractError(f"{where}: {int((~reasons.ok).sum())} row(s) break the production "
                            f"model's input contract; first, row {row_offset + first + 1}: "
                            f"{reasons.texts[first]}. Fix them and score again")
    return pd.DataFrame(typed)


class Reasons:
    """Per-row reasons a row breaks the contract, joined with "; "."""

    def __init__(self, n: int):
        self.n = n
        self.texts = np.full(n, "", dtype=object)

    @property
    def ok(self) -> np.ndarray:
        return self.texts == ""

    def flag(self, mask, text) -> None:
        mask = np.asarray(mask, dtype=bool)
        if mask.any():
            texts = text if isinstance(text, np.ndarray) else np.full(self.n, text, dtype=object)
            joiner = np.where(self.texts[mask] == "", "", "; ")
            self.texts[mask] = self.texts[mask] + joiner + texts[mask]


def _check_features(frame: pd.DataFrame, columns: dict[str, Column],
                    reasons: Reasons) -> dict[str, pd.Series]:
    """Check and type each feature column, flagging bad rows in ``reasons``."""
    typed = {}
    flag = reasons.flag
    for name, col in columns.items():
        raw = frame[name]
        missing = _is_missing(raw)
        if col.dtype == "category":
            values = raw.astype("string").str.strip()
            typed[name] = values.where(~missing, None).astype("str")
            long = values.str.len().fillna(0).to_numpy() > MAX_TEXT_LENGTH
            flag(long, f"{name}: longer than {MAX_TEXT_LENGTH} characters")
            if col.values is not None:
                outside = ~missing & ~values.isin(col.values).to_numpy(dtype=bool)
                flag(outside, name + ": not one of the allowed values")
        else:
            numbers = pd.to_numeric(raw, errors="coerce").astype("float64")
            garbled = ~missing & numbers.isna().to_numpy()
            if garbled.any():
                texts = np.full(reasons.n, "", dtype=object)
                texts[garbled] = [f"{name}: not a number {v!r}" for v in raw[garbled]]
                flag(garbled, texts)
            values = numbers.to_numpy()
            if col.dtype == "int":
                fractional = np.isfinite(values) & (values != np.round(values))
                flag(fractional, f"{name}: not a whole number")
                flag(np.isfinite(values) & (np.abs(values) >= EXACT_INT),
                     f"{name}: too large to keep exactly (2**53 or more)")
            flag(np.isinf(values), f"{name}: infinite")
            if col.min is not None:
                flag(values < col.min, f"{name}: below the minimum {col.min:g}")
            if col.max is not None:
                flag(values > col.max, f"{name}: above the maximum {col.max:g}")
            typed[name] = numbers
        if not col.nullable:
            flag(missing, f"{name}: missing (not nullable)")
    return typed


def refuse_batch(where: str, contract: Contract, n: int, n_bad: int,
                 first_bad: tuple[int, str] | None) -> None:
    """Refuse the whole batch of ``n`` rows, ``n_bad`` of them bad (the first one's row number
    and reason ``first_bad``), when too many are bad or too few are good."""
    share = n_bad / n
    if share > contract.max_bad_share:
        row, reason = first_bad
        raise ContractError(
            f"{where}: {n_bad} of {n} rows break the contract ({share:.0%} > max_bad_share "
            f"{contract.max_bad_share:.0%}); first, row {row}: "
            f"{reason}. Fix the file, or the contract in params.yaml (that column's "
            "rule, or contract.max_bad_share)"
        )
    if n - n_bad < max(contract.min_rows, 1):
        raise ContractError(
            f"{where}: only {n - n_bad} good rows, fewer than contract.min_rows "
            f"({contract.min_rows}); land a larger batch or lower contract.min_rows"
        )


def one_class_warning(contract: Contract, good: pd.DataFrame | set) -> str | None:
    """A warning when the good rows' label (or the set of its values) holds one class only:
    such a batch lands and trains later models, but cannot be a holdout (no ROC AUC, no verdict
    on it)."""
    present = sorted(good if isinstance(good, set) else good[contract.label].unique().tolist())
    if len(present) != 1:
        return None
    return (f"the label {contract.label!r} holds one class only ({present[0]}); it lands and "
            "later models train on it, but it is skipped as a holdout")


def _is_missing(raw: pd.Series) -> np.ndarray:
    missing = raw.isna().to_numpy().copy()
    if raw.dtype == object or pd.api.types.is_string_dtype(raw):
        missing |= raw.astype("string").str.strip().fillna("").eq("").to_numpy(dtype=bool)
    return missing


def parse_times(raw: pd.Series, timezone: str = "UTC") -> tuple[pd.Series, np.ndarray]:
    """Parse a time column to UTC instants, and say which values are not times.

    A value with a zone (``Z``, ``+01:00``) is that instant; a date (``1992-11-08``) or a
    timestamp without a zone is a wall-clock time in ``timezone`` (its midnight for a date).
    A wall-clock time that ``timezone`` skips or repeats (a daylight-saving change) has no
    single instant and is bad, as is anything that is not ISO 8601.
    """
    if isinstance(raw.dtype, pd.DatetimeTZDtype):
        parsed = raw.dt.tz_convert("UTC").astype(TIME_DTYPE)
    elif pd.api.types.is_datetime64_dtype(raw):
        parsed = _localize(raw, timezone)
    else:
        text = raw.astype("string").str.strip()
        has_zone = text.str.contains(TZ_SUFFIX, regex=True).fillna(False).to_numpy(dtype=bool)
        zoned = pd.to_datetime(text.where(has_zone), format="ISO8601", utc=True,
                               errors="coerce").astype(TIME_DTYPE)
        bare = ~has_zone & text.notna().to_numpy()
        if bare.any():  # (the regex runs on these rows only: most sources carry zones)
            bare[bare] = text[bare].str.fullmatch(ZONELESS).fillna(False).to_numpy(dtype=bool)
        if bare.any():
            wall = pd.to_datetime(text.where(bare), format="ISO8601", errors="coerce")
            zoned = zoned.where(~bare, _localize(wall, timezone))
        parsed = zoned
    return parsed, parsed.isna().to_numpy()


def _localize(wall: pd.Series, timezone: str) -> pd.Series:
    """Wall-clock times in ``timezone`` as UTC instants (NaT where the zone has no such time)."""
    local = wall.dt.tz_localize(timezone, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC").astype(TIME_DTYPE)


def _implausible_time(parsed: pd.Series) -> np.ndarray:
    """Labelled history cannot come from the future (nor, here, from before 1900): such a
    time is a typo, e.g. a year typed a thousand years off."""
    latest = pd.Timestamp.now(tz="UTC") + pd.Timedelta(days=1)
    return (parsed.notna() & ((parsed < EARLIEST) | (parsed > latest))).to_numpy(dtype=bool)
