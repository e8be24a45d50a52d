"""Data drift: compare the newest batch with the production model's training rows, per column.

A column drifts only when BOTH hold:

- its two-sample test is significant after correcting for the number of columns tested
  (Kolmogorov-Smirnov for numeric columns, Pearson chi-squared on the 2 x k table of category
  counts for categorical ones; Holm by default), and
- its effect size reaches a practical threshold (PSI for numeric columns, Jensen-Shannon
  distance for categorical ones).

The test alone fires on negligible shifts of large samples; the effect size alone fires on the
sampling noise of small ones (PSI's expected value under no shift is about ``(bins - 1) *
(1/n + 1/m)``, 0.3 for 30 rows). Columns with too few non-missing values in either sample get
the status ``"insufficient_data"``, never ``"drift"``, and are left out of the correction and
the dataset share. Every score of every column is reported, whatever its status.

Missing values (None, NaN, NaT; for numeric columns also +-inf) are left out of every test and
score; each sample's missing rate is reported. The prediction score and the label can be
compared like any feature: add them as columns and declare their kind (``"numeric"`` and
``"categorical"``). The thresholds are params' ``drift`` section (:class:`iterate.params.Drift`,
validated there). Only numpy, pandas and scipy are imported (and the mergeable counts of
:mod:`iterate.core.summaries`); no file I/O. What to do about a drift report is
:mod:`iterate.core.policy`'s job.

:func:`report_of_counts` gives the report of :func:`compare` from each column's counts merged
over partitions (:class:`ColumnCounts`; the Dask engine's drift step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from iterate.core import summaries
from iterate.params import Drift

KINDS: tuple[str, ...] = ("numeric", "categorical")
STATUSES: tuple[str, ...] = ("drift", "stable", "insufficient_data")
PSI_EPS = 1e-4
DEFAULTS = Drift()  # params.yaml's drift section when it sets nothing
KIND_OF_DTYPE = {"int": "numeric", "float": "numeric", "category": "categorical"}




@dataclass(frozen=True)
class ColumnDrift:
    """Every score of one column; a float is NaN when it cannot be computed.

    ``statistic`` is the KS D or the chi-squared statistic; ``effect_size`` the PSI or the
    Jensen-Shannon distance; ``wasserstein`` the Wasserstein-1 distance divided by the
    reference's standard deviation (inf if that is 0 and the samples differ; None for
    categorical columns). ``p_value_corrected`` is NaN for columns that were not tested
    (``"insufficient_data"``). ``n_*`` count non-missing values, ``missing_*`` are missing
    shares of all rows. ``unseen_categories`` lists the current's categories absent from the
    reference (most frequent first) and ``unseen_share`` the share of the current's non-missing
    values that carry one (always [] and 0.0 for numeric columns).
    """

    name: str
    kind: str
    status: str
    test: str
    statistic: float
    p_value: float
    p_value_corrected: float
    effect: str
    effect_size: float
    wasserstein: float | None
    n_reference: int
    n_current: int
    missing_reference: float
    missing_current: float
    unseen_categories: list[Any]
    unseen_share: float


@dataclass(frozen=True)
class DriftReport:
    """All columns of one comparison (in the order given) and the dataset verdict.

    ``share`` is ``len(drifted) / tested`` (NaN when no column could be tested) and
    ``dataset_drift`` is ``share >= options.share_threshold``.
    """

    columns: list[ColumnDrift]
    drifted: list[str]
    share: float
    dataset_drift: bool
    options: Drift

    @property
    def tested(self) -> int:
        """Number of columns with enough data to be tested."""
        return sum(c.status != "insufficient_data" for c in self.columns)

    def column(self, name: str) -> ColumnDrift:
        """The result of column ``name``."""
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)


# --------------------------------------------------------------------------- corrections


def _p_array(p_values: Any) -> np.ndarray:
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be 1-d, got shape {p.shape}")
    if np.any((p < 0.0) | (p > 1.0)):
        raise ValueError("p_values must be in [0, 1] (NaN allowed)")
    return p


def holm(p_values: Any) -> np.ndarray:
    """Holm-Bonferroni adjusted p-values (reject where adjusted < alpha: FWER <= alpha).

    ``adj[(i)] = max_{j <= i} min(1, (m - j + 1) * p[(j)])`` over the ascending order, as
    statsmodels' ``multipletests(method="holm")``; written here, as scipy has no Holm step (and
    statsmodels is a large dependency for four lines). NaN entries are not tests: they stay NaN
    and do not count in ``m``.

    Parameters
    ----------
    p_values : array of float in [0, 1] or NaN, shape (m,)

    Returns
    -------
    numpy.ndarray
        Adjusted p-values in the input order.
    """
    def step_down(p: np.ndarray) -> np.ndarray:
        order = np.argsort(p, kind="stable")
        out = np.empty_like(p)
        out[order] = np.minimum(np.maximum.accumulate(p[order] * np.arange(p.size, 0, -1)), 1.0)
        return out

    return _of_tested(p_values, step_down)


def benjamini_hochberg(p_values: Any) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (reject where adjusted < alpha: FDR <= alpha), by
    ``scipy.stats.false_discovery_control``; as :func:`holm` otherwise."""
    return _of_tested(p_values, lambda p: stats.false_discovery_control(p, method="bh"))


def _of_tested(p_values: Any, adjust: Any) -> np.ndarray:
    """``adjust`` applied to the non-NaN p-values; NaN (not a test) stays NaN."""
    p = _p_array(p_values)
    out = np.full(p.shape, np.nan)
    tested = ~np.isnan(p)
    if tested.any():
        out[tested] = adjust(p[tested])
    return out


def _correct(p: np.ndarray, method: str) -> np.ndarray:
    if method == "holm":
        return holm(p)
    if method == "bh":
        return benjamini_hochberg(p)
    return p.copy()


# --------------------------------------------------------------------------- effect sizes


def _finite_sorted(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64).ravel()
    return np.sort(a[np.isfinite(a)])


def _quantiles_sorted(s: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(s, q)`` (linear method) of an already sorted, non-empty array."""
    pos = q * (s.size - 1)
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, s.size - 1)
    return s[lo] + (pos - lo) * (s[hi] - s[lo])


def _bin_shares(s: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Shares of sorted ``s`` in the bins (-inf, e0], (e0, e1], ..., (e_last, inf)."""
    below = np.searchsorted(s, edges, side="right")
    counts = np.diff(np.concatenate(([0], below, [s.size])))
    return counts / s.size


def _psi_sorted(r: np.ndarray, c: np.ndarray, bins: int, eps: float) -> float:
    if r.size == 0 or c.size == 0:
        return math.nan
    edges = np.unique(_quantiles_sorted(r, np.linspace(0.0, 1.0, bins + 1)[1:-1]))
    pr = np.maximum(_bin_shares(r, edges), eps)
    pc = np.maximum(_bin_shares(c, edges), eps)
    return max(float(np.sum((pc - pr) * np.log(pc / pr))), 0.0)


def psi(reference: Any, current: Any, bins: int = 10, *, eps: float = PSI_EPS) -> float:
    """Population stability index of ``current`` against ``reference``.

    Bin edges are the reference's inner quantiles ``1/bins, ..., (bins-1)/bins``, deduplicated
    (a value piled on one point gets its own bin); the first and last bins are open-ended and
    bins are closed on the right. ``PSI = sum((c - r) * ln(c / r))`` over the bins' shares, each
    share floored at ``eps`` so an empty bin stays finite. 0 for identical samples.

    Parameters
    ----------
    reference, current : array of numbers
        Non-finite values are ignored.
    bins : int
        Number of quantile bins (before deduplication).
    eps : float
        Floor of a bin's share.

    Returns
    -------
    float
        PSI >= 0, NaN when either sample has no finite value.
    """
    if int(bins) < 2:
        raise ValueError(f"bins must be >= 2, got {bins}")
    return _psi_sorted(_finite_sorted(reference), _finite_sorted(current), int(bins), eps)


def _wasserstein_sorted(r: np.ndarray, c: np.ndarray) -> float:
    """Wasserstein-1 distance of two sorted non-empty samples (= scipy's, one stable sort)."""
    values = np.concatenate((r, c))
    order = np.argsort(values, kind="stable")
    from_r = order < r.size
    cdf_r = np.cumsum(from_r)[:-1] / r.size
    cdf_c = np.cumsum(~from_r)[:-1] / c.size
    return float(np.sum(np.abs(cdf_r - cdf_c) * np.diff(values[order])))


def _normalised_wasserstein(r: np.ndarray, c: np.ndarray) -> float:
    if r.size == 0 or c.size == 0:
        return math.nan
    w = _wasserstein_sorted(r, c)
    sd = float(np.std(r))
    if sd > 0.0:
        return w / sd
    return 0.0 if w == 0.0 else math.inf


def jensen_shannon(ref_counts: Any, cur_counts: Any) -> float:
    """Jensen-Shannon distance (base 2, in [0, 1]) between two aligned count vectors.

    ``sqrt(JS divergence)`` of the normalised counts: 0 for identical distributions, 1 for
    disjoint ones.

    Parameters
    ----------
    ref_counts, cur_counts : array of non-negative numbers, shape (k,)
        Counts (or weights) of the same k categories.

    Returns
    -------
    float
        The distance, NaN when either vector sums to 0.
    """
    p = np.asarray(ref_counts, dtype=np.float64)
    q = np.asarray(cur_counts, dtype=np.float64)
    if p.shape != q.shape or p.ndim != 1:
        raise ValueError(f"counts must be 1-d of the same shape, got {p.shape} and {q.shape}")
    if np.any(p < 0) or np.any(q < 0):
        raise ValueError("counts must be >= 0")
    sp, sq = p.sum(), q.sum()
    if sp <= 0 or sq <= 0:
        return math.nan
    p, q = p / sp, q / sq
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log2(a[nz] / m[nz])))

    div = (kl(p) + kl(q)) / 2.0
    return math.sqrt(min(max(div, 0.0), 1.0))


# --------------------------------------------------------------------------- one column


def _missing(n_missing: int, n_rows: int) -> float:
    return n_missing / n_rows if n_rows else math.nan


def _numeric(name: str, ref: pd.Series, cur: pd.Series, o: Drift) -> dict[str, Any]:
    def values(s: pd.Series, which: str) -> np.ndarray:
        try:
            return s.to_numpy(dtype=np.float64, na_value=np.nan)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"column {name!r} of {which} is declared numeric but is not: "
                             f"{exc}") from None

    a, b = values(ref, "reference"), values(cur, "current")
    r, c = np.sort(a[np.isfinite(a)]), np.sort(b[np.isfinite(b)])
    statistic = p_value = math.nan
    if r.size and c.size:
        ks = stats.ks_2samp(r, c)
        statistic, p_value = float(ks.statistic), float(ks.pvalue)
    return {
        "test": "ks", "statistic": statistic, "p_value": p_value, "effect": "psi",
        "effect_size": _psi_sorted(r, c, o.bins, PSI_EPS),
        "wasserstein": _normalised_wasserstein(r, c),
        "n_reference": int(r.size), "n_current": int(c.size),
        "missing_reference": _missing(a.size - r.size, a.size),
        "missing_current": _missing(b.size - c.size, b.size),
        "unseen_categories": [], "unseen_share": 0.0,
    }


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar it holds."""
    return value.item() if isinstance(value, np.generic) else value


def _categorical(name: str, ref: pd.Series, cur: pd.Series) -> dict[str, Any]:
    both = pd.concat([ref, cur], ignore_index=True)
    codes, uniques = pd.factorize(both, use_na_sentinel=True)
    k = len(uniques)
    rc, cc = codes[: len(ref)], codes[len(ref):]
    return categorical_scores(np.bincount(rc[rc >= 0], minlength=k),
                              np.bincount(cc[cc >= 0], minlength=k), uniques, len(ref), len(cur))


def categorical_scores(ref_counts: np.ndarray, cur_counts: np.ndarray, uniques: Any,
                       ref_rows: int, cur_rows: int) -> dict[str, Any]:
    """A categorical column's scores from each sample's count of each category (``uniques``,
    in order of first appearance in the reference, then the current) and its rows (missing
    values included); also the Dask engine's, from merged counts
    (:func:`report_of_counts`)."""
    ref_counts, cur_counts = np.asarray(ref_counts), np.asarray(cur_counts)
    n_r, n_c = int(ref_counts.sum()), int(cur_counts.sum())
    statistic = p_value = math.nan
    if n_r and n_c:
        chi2 = stats.chi2_contingency(np.vstack((ref_counts, cur_counts)), correction=False)
        statistic, p_value = float(chi2.statistic), float(chi2.pvalue)
    unseen = np.flatnonzero((ref_counts == 0) & (cur_counts > 0))
    unseen = unseen[np.argsort(-cur_counts[unseen], kind="stable")]
    return {
        "test": "chi2", "statistic": statistic, "p_value": p_value, "effect": "jensen_shannon",
        "effect_size": jensen_shannon(ref_counts, cur_counts), "wasserstein": None,
        "n_reference": n_r, "n_current": n_c,
        "missing_reference": _missing(ref_rows - n_r, ref_rows),
        "missing_current": _missing(cur_rows - n_c, cur_rows),
        "unseen_categories": [_plain(uniques[i]) for i in unseen],
        "unseen_share": float(cur_counts[unseen].sum() / n_c) if n_c else math.nan,
    }


# --------------------------------------------------------------------------- public API


def kinds_from_contract(contract: Any) -> dict[str, str]:
    """Drift kind of every contract column, in contract order: int/float -> numeric,
    category -> categorical.

    Parameters
    ----------
    contract : iterate.params.Contract
        Anything with ``columns: {name: Column}`` whose ``dtype`` is int, float or category.

    Returns
    -------
    dict
        ``{name: "numeric" | "categorical"}``.
    """
    return kinds_from_schema({name: {"dtype": col.dtype} for name, col in contract.columns.items()})


def kinds_from_schema(input_schema: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Drift kind of every column of a model's input schema (``model.json``), in its order."""
    out = {}
    for name, spec in input_schema.items():
        if spec["dtype"] not in KIND_OF_DTYPE:
            raise ValueError(f"column {name!r}: unknown dtype {spec['dtype']!r}")
        out[name] = KIND_OF_DTYPE[spec["dtype"]]
    return out


def compare(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    kinds: Mapping[str, str],
    options: Drift = DEFAULTS,
) -> DriftReport:
    """Compare ``current`` with ``reference`` on every column of ``kinds``.

    Parameters
    ----------
    reference : pandas.DataFrame
        The rows the production model was trained on.
    current : pandas.DataFrame
        The newest batch.
    kinds : mapping
        ``{column: "numeric" | "categorical"}``, in the order to report. Add the prediction
        score (numeric) and the label (categorical) as extra columns to watch them too.
    options : iterate.params.Drift
        The thresholds (params' ``drift`` section).

    Returns
    -------
    DriftReport
    """
    check_columns(reference, current, kinds)
    rows = []
    for name, kind in kinds.items():
        ref, cur = reference[name], current[name]
        if kind == "numeric":
            rows.append(_numeric(name, ref, cur, options))
        else:
            rows.append(_categorical(name, ref, cur))
    return report(kinds, rows, options)


def check_columns(reference: pd.DataFrame, current: pd.DataFrame,
                  kinds: Mapping[str, str]) -> None:
    """Refuse a kind that is not one of :data:`KINDS` and a column either frame lacks."""
    for name, kind in kinds.items():
        if kind not in KINDS:
            raise ValueError(f"column {name!r}: kind must be one of {KINDS}, got {kind!r}")
        for frame, which in ((reference, "reference"), (current, "current")):
            if name not in frame.columns:
                raise ValueError(f"column {name!r} is missing from {which}")


def report(kinds: Mapping[str, str], rows: list[dict[str, Any]],
           options: Drift = DEFAULTS) -> DriftReport:
    """The report of the columns of ``kinds`` from each one's scores (in the same order): which
    have enough data, the corrected p-values, each status and the dataset's verdict."""
    enough = np.array(
        [min(r["n_reference"], r["n_current"]) >= options.min_samples for r in rows], dtype=bool
    )
    p = np.array([r["p_value"] for r in rows], dtype=np.float64)
    corrected = _correct(np.where(enough, p, np.nan), options.correction)
    columns = []
    for (name, kind), row, ok, p_corr in zip(kinds.items(), rows, enough, corrected, strict=True):
        threshold = options.psi_threshold if kind == "numeric" else options.js_threshold
        if not ok:
            status = "insufficient_data"
        elif p_corr < options.alpha and row["effect_size"] >= threshold:
            status = "drift"
        else:
            status = "stable"
        columns.append(ColumnDrift(name=name, kind=kind, status=status,
                                   p_value_corrected=float(p_corr), **row))
    drifted = [c.name for c in columns if c.status == "drift"]
    tested = int(enough.sum())
    share = len(drifted) / tested if tested else math.nan
    return DriftReport(columns=columns, drifted=drifted, share=share,
                       dataset_drift=bool(tested and share >= options.share_threshold),
                       options=options)


# --------------------------------------------------------------------------- from merged counts

KS_EXACT_ROWS = 10_000  # scipy's ks_2samp (method "auto"): an exact p-value up to this many
# values in the larger sample (its MAX_AUTO_N), Smirnov's asymptotic distribution beyond


@dataclass(frozen=True)
class ColumnCounts:
    """One column of some rows, mergeable: how many rows, and a numeric column's
    :func:`iterate.core.summaries.value_counts` or a categorical one's
    :func:`iterate.core.summaries.category_counts` (in order of first appearance); the Dask
    engine counts each partition (:mod:`iterate.repo.distributed_drift`)."""

    rows: int
    counts: Any

    @staticmethod
    def of(values: Any, kind: str) -> ColumnCounts:
        if kind == "numeric":
            return ColumnCounts(len(values), summaries.value_counts(values))
        return ColumnCounts(len(values), summaries.category_counts(values))

    def merge(self, later: ColumnCounts) -> ColumnCounts:
        """These rows then ``later``'s (a categorical column's order of first appearance
        follows the rows' order)."""
        if isinstance(self.counts, dict):
            merged = dict(self.counts)
            for key, n in later.counts.items():
                merged[key] = merged.get(key, 0) + n
            return ColumnCounts(self.rows + later.rows, merged)
        return ColumnCounts(self.rows + later.rows,
                            summaries.merge_value_counts(self.counts, later.counts))


def _ks(reference: tuple[np.ndarray, np.ndarray],
        current: tuple[np.ndarray, np.ndarray]) -> tuple[float, float]:
    """scipy's ``ks_2samp`` (two-sided, method "auto") from merged value counts: the samples
    themselves (as sorted, from the counts) up to :data:`KS_EXACT_ROWS`, where its p-value is
    exact; beyond, the exact statistic and its asymptotic p-value, as scipy computes them."""
    n_r, n_c = int(reference[1].sum()), int(current[1].sum())
    if max(n_r, n_c) <= KS_EXACT_ROWS:
        ks = stats.ks_2samp(np.repeat(*reference), np.repeat(*current))
        return float(ks.statistic), float(ks.pvalue)
    d = summaries.ks_statistic(reference, current)
    m, n = sorted([float(n_r), float(n_c)], reverse=True)
    return d, float(np.clip(stats.kstwo.sf(d, np.round(m * n / (m + n))), 0, 1))


def _wasserstein_of_counts(reference: tuple[np.ndarray, np.ndarray],
                           current: tuple[np.ndarray, np.ndarray]) -> float:
    """Wasserstein-1 distance over the reference's standard deviation, from merged value
    counts: the area between the ECDFs on the merged grid (equal to the local engine's up to
    summation order)."""
    n_r, n_c = reference[1].sum(), current[1].sum()
    if not n_r or not n_c:
        return math.nan
    grid = np.union1d(reference[0], current[0])
    gap = np.abs(summaries.ecdf(reference, grid) - summaries.ecdf(current, grid))
    w = float(np.sum(gap[:-1] * np.diff(grid)))
    mean = np.sum(reference[0] * reference[1]) / n_r
    sd = math.sqrt(float(np.sum(reference[1] * (reference[0] - mean) ** 2) / n_r))
    if sd > 0.0:
        return w / sd
    return 0.0 if w == 0.0 else math.inf


def _numeric_scores(ref: ColumnCounts, cur: ColumnCounts, bins: int) -> dict[str, Any]:
    n_r, n_c = int(ref.counts[1].sum()), int(cur.counts[1].sum())
    statistic, p_value = _ks(ref.counts, cur.counts) if n_r and n_c else (math.nan, math.nan)
    return {
        "test": "ks", "statistic": statistic, "p_value": p_value, "effect": "psi",
        "effect_size": summaries.psi_from_value_counts(ref.counts, cur.counts, bins, PSI_EPS),
        "wasserstein": _wasserstein_of_counts(ref.counts, cur.counts),
        "n_reference": n_r, "n_current": n_c,
        "missing_reference": _missing(ref.rows - n_r, ref.rows),
        "missing_current": _missing(cur.rows - n_c, cur.rows),
        "unseen_categories": [], "unseen_share": 0.0,
    }


def _categorical_scores(ref: ColumnCounts, cur: ColumnCounts) -> dict[str, Any]:
    keys = list(dict.fromkeys([*ref.counts, *cur.counts]))  # pandas.factorize's order
    return categorical_scores(np.array([ref.counts.get(k, 0) for k in keys], np.int64),
                              np.array([cur.counts.get(k, 0) for k in keys], np.int64),
                              keys, ref.rows, cur.rows)


def report_of_counts(kinds: Mapping[str, str], reference: Mapping[str, ColumnCounts],
                     current: Mapping[str, ColumnCounts],
                     options: Drift = DEFAULTS) -> DriftReport:
    """:func:`compare` of the rows whose merged :class:`ColumnCounts` these are: the same
    report (KS, PSI, chi-squared, Jensen-Shannon, counts and missing shares to the bit; the
    Wasserstein distance up to summation order)."""
    rows = [_numeric_scores(reference[name], current[name], options.bins) if kind == "numeric"
            else _categorical_scores(reference[name], current[name])
            for name, kind in kinds.items()]
    return report(kinds, rows, options)


def _num(x: Any) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, 6) + 0.0 if math.isfinite(x) else None  # + 0.0 turns -0.0 into 0.0


def _json_value(v: Any) -> Any:
    v = _plain(v)
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return _num(v)
    return str(v)


def to_dict(report: DriftReport) -> dict[str, Any]:
    """Plain, JSON-safe form of a report: floats rounded to 6 decimals, NaN/inf -> None.

    Shape::

        {"dataset_drift": bool, "share": float | None, "drifted_columns": [name, ...],
         "n_columns": int, "n_tested": int,
         "options": {every field of params' drift section},
         "columns": {name: {"kind", "status", "test", "statistic", "p_value",
                            "p_value_corrected", "effect", "effect_size", "wasserstein",
                            "n_reference", "n_current", "missing_reference",
                            "missing_current", "unseen_categories": [...],
                            "unseen_share"}}}   # columns in input order

    Parameters
    ----------
    report : DriftReport

    Returns
    -------
    dict
    """
    columns = {}
    for c in report.columns:
        entry = {f.name: _json_value(getattr(c, f.name)) for f in fields(c)
                 if f.name not in ("name", "unseen_categories")}
        entry["unseen_categories"] = [_json_value(v) for v in c.unseen_categories]
        entry["unseen_share"] = entry.pop("unseen_share")  # keep the field order
        columns[c.name] = entry
    return {
        "dataset_drift": bool(report.dataset_drift),
        "share": _num(report.share),
        "drifted_columns": list(report.drifted),
        "n_columns": len(report.columns),
        "n_tested": report.tested,
        "options": {f.name: _json_value(getattr(report.options, f.name))
                    for f in fields(report.options)},
        "columns": columns,
    }
