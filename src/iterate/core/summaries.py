"""The evaluation and drift numbers of :mod:`iterate.core.evaluate` and :mod:`iterate.core.drift`
from per-partition summaries that merge exactly (the Dask engine's evaluate; docs/scale.md).

Evaluation, in two passes over the partitions:

1. :func:`summarise` of each partition, merged by :func:`merge`: the confusion cells at the
   threshold (4 for one model, 8 paired), so the multinomial bootstrap with the same seed draws
   the same resamples; each per-row loss (and the paired difference) as count, mean and sum of
   squared deviations (Chan's parallel update); each model's scores as value counts of
   (score, label), from which the AUC and its single-model DeLong variance follow, since a
   row's DeLong component depends only on its score and label. The counts are of the distinct
   scores (an exact distributed sort), or of ``bins`` equal bins of [0, 1] (:func:`on_grid`: a
   sketch whose size does not grow with the rows; the AUC is then within
   :func:`auc_error_bound` of the exact one).
2. The paired AUC delta's variance needs each row's difference of the two models' components:
   :func:`components` turns the merged value counts into lookup tables, and
   :func:`spread` of each partition (merged by :func:`merge_spreads`) gives that difference's
   count, mean and squared deviations per class.

:func:`compare` then gives what :func:`iterate.core.evaluate.compare` gives on all the rows:
the threshold metrics equal, the rest equal up to floating-point summation order (the tests
hold them to 1e-12), the AUC on a grid within its bound. Slices are summaries per slice value
(:func:`summarise_slices`).

Drift (:class:`iterate.core.drift.ColumnCounts`): KS from merged value counts
(:func:`value_counts`, exact), PSI from them on the reference's quantile edges, and category
counts (:func:`category_counts`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import reduce
from typing import Any

import numpy as np

from iterate.core import evaluate as ev
from iterate.core.metrics import METRICS


@dataclass(frozen=True)
class Moments:
    """Count, mean and sum of squared deviations of some values (merge: Chan et al.)."""

    n: int
    mean: float
    m2: float

    @staticmethod
    def of(x: np.ndarray) -> Moments:
        if x.size == 0:
            return Moments(0, 0.0, 0.0)
        mean = float(x.mean())
        return Moments(int(x.size), mean, float(np.sum((x - mean) ** 2)))

    def merge(self, other: Moments) -> Moments:
        if not other.n:
            return self
        if not self.n:
            return other
        n = self.n + other.n
        d = other.mean - self.mean
        return Moments(n, self.mean + d * other.n / n,
                       self.m2 + other.m2 + d * d * self.n * other.n / n)

    def var_of_mean(self) -> float:
        """As :func:`iterate.core.evaluate._var_of_mean` (ddof=1); NaN below 2 values."""
        return math.nan if self.n < 2 else self.m2 / (self.n - 1) / self.n


def on_grid(p: np.ndarray, bins: int) -> np.ndarray:
    """Each probability's bin of ``bins`` equal bins of [0, 1] (1.0 in the last): ``int64``."""
    return np.minimum((np.asarray(p, dtype=np.float64) * bins).astype(np.int64), bins - 1)


@dataclass(frozen=True)
class ScoreCounts:
    """Distinct scores (floats), or the bins of a grid (ints, :func:`on_grid`), sorted, with how
    many negative and positive rows hold each."""

    values: np.ndarray
    neg: np.ndarray
    pos: np.ndarray

    @staticmethod
    def of(y: np.ndarray, p: np.ndarray, bins: int | None = None) -> ScoreCounts:
        if bins is not None and p.size * 8 >= bins:  # many rows: count the bins, no sort
            counts = np.bincount(2 * on_grid(p, bins) + y, minlength=2 * bins).reshape(-1, 2)
            held = np.flatnonzero(counts.any(axis=1))
            return ScoreCounts(held, counts[held, 0], counts[held, 1])
        values, inverse = np.unique(p if bins is None else on_grid(p, bins),
                                    return_inverse=True)
        k = values.size
        return ScoreCounts(values, np.bincount(inverse[~y], minlength=k),
                           np.bincount(inverse[y], minlength=k))

    @staticmethod
    def merge_all(counts: list[ScoreCounts]) -> ScoreCounts:
        """All of them at once: bins counted in one dense pass, distinct scores in one sort."""
        values = np.concatenate([c.values for c in counts])
        if values.dtype.kind == "i":  # bins of a grid: no sort
            size = int(values.max()) + 1 if values.size else 0
            neg, pos = (np.bincount(values, np.concatenate([getattr(c, f) for c in counts]),
                                    size).astype(np.int64) for f in ("neg", "pos"))
            held = np.flatnonzero(neg + pos)
            return ScoreCounts(held, neg[held], pos[held])
        values, inverse = np.unique(values, return_inverse=True)
        k = values.size

        def add(field: str) -> np.ndarray:
            weights = np.concatenate([getattr(c, field) for c in counts])
            return np.bincount(inverse, weights, k).astype(np.int64)

        return ScoreCounts(values, add("neg"), add("pos"))

    def error_bound(self) -> float:
        """How far the AUC of these counts may be from the exact one: on a grid, a positive and
        a negative row in one bin count 1/2, their exact share 0, 1/2 or 1; of distinct
        scores, 0."""
        m, k = int(self.pos.sum()), int(self.neg.sum())
        if self.values.dtype.kind != "i" or not m or not k:
            return 0.0
        return float(0.5 * np.dot(self.pos.astype(np.float64), self.neg) / m / k)


@dataclass(frozen=True)
class Summary:
    """One partition's (or merged partitions') evaluation summary of one group of rows."""

    cells: np.ndarray  # 4 cells (2*label + predicted) or 8 (4*label + 2*cand + prod)
    losses: dict[str, Moments]  # "candidate:log_loss", "production:brier", "delta:brier", ...
    scores: tuple[ScoreCounts, ...]  # candidate's, then production's if any
    bins: int | None = None  # the scores' grid (:func:`on_grid`); None: distinct scores

    @property
    def rows(self) -> int:
        return int(self.cells.sum())


def summarise(y_true: Any, candidate: Any, production: Any | None,
              threshold: float | tuple[float, float], bins: int | None = None) -> Summary:
    """The summary of these rows (checked as :func:`iterate.core.evaluate.compare` checks);
    ``threshold`` may be each model's own (:func:`iterate.core.evaluate.cuts`); the scores
    counted on a grid of ``bins`` (None: distinct scores, exact)."""
    cut_c, cut_p = ev.cuts(threshold)
    y = ev._labels(y_true)
    pc = ev._proba(candidate, y.size, "proba_candidate")
    pp = None if production is None else ev._proba(production, y.size, "proba_production")
    if pp is None:
        cells = np.bincount(2 * y + (pc >= cut_c), minlength=4)
    else:
        cells = np.bincount(4 * y + 2 * (pc >= cut_c) + (pp >= cut_p), minlength=8)
    loss_c = ev._row_losses(y, pc)
    losses = {f"candidate:{k}": Moments.of(v) for k, v in loss_c.items()}
    scores = (ScoreCounts.of(y, pc, bins),)
    if pp is not None:
        loss_p = ev._row_losses(y, pp)
        losses.update({f"production:{k}": Moments.of(v) for k, v in loss_p.items()})
        losses.update({f"delta:{k}": Moments.of(loss_c[k] - loss_p[k]) for k in loss_c})
        scores += (ScoreCounts.of(y, pp, bins),)
    return Summary(cells.astype(np.int64), losses, scores, bins)


def merge(a: Summary, b: Summary) -> Summary:
    return merge_all([a, b])


def merge_all(parts: list[Summary]) -> Summary:
    """The summary of all the parts' rows (the score counts merged in one sort)."""
    if len({p.cells.size for p in parts}) != 1:
        raise ValueError("merge: summaries of one model and of two cannot merge")
    if len({p.bins for p in parts}) != 1:
        raise ValueError("merge: summaries of distinct scores and of a grid cannot merge")
    losses = {k: reduce(Moments.merge, [p.losses[k] for p in parts]) for k in parts[0].losses}
    return Summary(sum(p.cells for p in parts), losses,
                   tuple(ScoreCounts.merge_all([p.scores[i] for p in parts])
                         for i in range(len(parts[0].scores))), parts[0].bins)


def _slice_keys(values: Any) -> np.ndarray:
    v = np.asarray(values)
    return v.astype(str) if v.dtype == object else v


def summarise_slices(y_true: Any, candidate: Any, production: Any | None, slice_values: Any,
                     threshold: float | tuple[float, float],
                     bins: int | None = None) -> dict[str, Summary]:
    """A summary per slice value (``str`` of the value, as
    :func:`iterate.core.evaluate.compare_slices` groups them)."""
    y, pc = np.asarray(y_true), np.asarray(candidate)
    pp = None if production is None else np.asarray(production)
    keys = _slice_keys(slice_values)
    if keys.dtype.kind != "U":
        keys = np.array([str(u) for u in keys])
    names, inverse = np.unique(keys, return_inverse=True)
    order = np.argsort(inverse, kind="stable")
    bounds = np.searchsorted(inverse[order], np.arange(names.size + 1))
    out = {}
    for i, key in enumerate(names.tolist()):  # sorted; each slice's rows in their order
        rows = order[bounds[i]:bounds[i + 1]]
        out[key] = summarise(y[rows], pc[rows], None if pp is None else pp[rows], threshold,
                             bins)
    return out


def merge_slices(a: Mapping[str, Summary], b: Mapping[str, Summary]) -> dict[str, Summary]:
    return merge_all_slices([a, b])


def merge_all_slices(parts: list[Mapping[str, Summary]]) -> dict[str, Summary]:
    keys = sorted({k for p in parts for k in p})
    return {k: merge_all([p[k] for p in parts if k in p]) for k in keys}


# --------------------------------------------------------------------------- ROC AUC


@dataclass(frozen=True)
class Components:
    """Per distinct score (or bin of the grid), the DeLong component of a positive row (share
    of negatives it outranks, ties 1/2) and of a negative row (share of positives outranking
    it)."""

    values: np.ndarray
    positive: np.ndarray
    negative: np.ndarray
    bins: int | None = None

    def of(self, y: np.ndarray, p: np.ndarray) -> np.ndarray:
        if self.bins is None:
            at = np.searchsorted(self.values, p)
            return np.where(y, self.positive[at], self.negative[at])
        at = on_grid(p, self.bins)  # a dense table of the bins: no search
        table = np.zeros((self.bins, 2))
        table[self.values] = np.column_stack((self.negative, self.positive))
        return table[at, y.astype(np.int64)]


def _components(s: ScoreCounts, bins: int | None) -> Components | None:
    m, k = int(s.pos.sum()), int(s.neg.sum())
    if m == 0 or k == 0:
        return None
    neg_below = np.cumsum(s.neg) - s.neg
    pos_below = np.cumsum(s.pos) - s.pos
    return Components(s.values, (neg_below + 0.5 * s.neg) / k,
                      1.0 - (pos_below + 0.5 * s.pos) / m, bins)


def components(summary: Summary) -> tuple[Components, ...] | None:
    """Each model's lookup table (pass 2's input), or None when the rows hold one class."""
    tables = tuple(_components(s, summary.bins) for s in summary.scores)
    return None if any(t is None for t in tables) else tables  # type: ignore[return-value]


def spread(y_true: Any, candidate: Any, production: Any,
           tables: tuple[Components, ...]) -> tuple[Moments, Moments]:
    """Pass 2 of one partition: the paired component difference over its positive and its
    negative rows."""
    y = ev._labels(y_true)
    pc = np.asarray(candidate, dtype=np.float64)
    pp = np.asarray(production, dtype=np.float64)
    d = tables[0].of(y, pc) - tables[1].of(y, pp)
    return Moments.of(d[y]), Moments.of(d[~y])


def merge_spreads(a: tuple[Moments, Moments], b: tuple[Moments, Moments]) -> tuple[Moments,
                                                                                    Moments]:
    return a[0].merge(b[0]), a[1].merge(b[1])


def auc_error_bound(summary: Summary) -> dict[str, float | None]:
    """How far each model's AUC (and their delta) from ``summary`` may be from the exact one
    on the same rows: 0 for distinct scores; on a grid, half the share of (positive, negative)
    pairs that share a bin (each such pair counts 1/2, its exact share being 0, 1/2 or 1). None
    where there is no AUC (one class, or no production)."""
    bounds = [s.error_bound() if components(summary) is not None else None
              for s in summary.scores]
    candidate, production = bounds[0], bounds[1] if len(bounds) > 1 else None
    delta = None if candidate is None or production is None else candidate + production
    return {"candidate": candidate, "production": production, "delta": delta}


def _weighted(values: np.ndarray, weights: np.ndarray) -> Moments:
    n = int(weights.sum())
    mean = float(np.sum(weights * values) / n)
    return Moments(n, mean, float(np.sum(weights * (values - mean) ** 2)))


def _auc_single(s: ScoreCounts, table: Components, z: float) -> ev.Interval:
    pos, neg = _weighted(table.positive, s.pos), _weighted(table.negative, s.neg)
    return ev._normal(pos.mean, pos.var_of_mean() + neg.var_of_mean(), z, 0.0, 1.0)


# --------------------------------------------------------------------------- the comparison


def compare(summary: Summary, spreads: tuple[Moments, Moments] | None, *, confidence: float,
            resamples: int, seed: int | None) -> dict[str, ev.Comparison]:
    """:func:`iterate.core.evaluate.compare` from the merged summary of all the rows and (with
    production and both classes) the merged :func:`spread`."""
    z = ev._z(confidence)
    paired = summary.cells.size == 8
    out: dict[str, ev.Comparison] = {}
    draws = ev._multinomial(summary.cells, resamples, seed)
    if paired:
        point_c, point_p = ev._paired_counts(summary.cells)
        draws_c, draws_p = ev._paired_counts(draws)
    else:
        point_c, draws_c = ev._single_counts(summary.cells), ev._single_counts(draws)
    for k in ev.THRESHOLD_METRICS:
        cand = ev._interval(point_c[k], *ev._percentile(draws_c[k], confidence))
        if paired:
            out[k] = ev.Comparison(
                k, cand, ev._interval(point_p[k], *ev._percentile(draws_p[k], confidence)),
                ev._interval(point_c[k] - point_p[k],
                             *ev._percentile(draws_c[k] - draws_p[k], confidence)))
        else:
            out[k] = ev.Comparison(k, cand, ev.NO_INTERVAL, ev.NO_INTERVAL)
    tables = components(summary)
    if tables is None:
        out["roc_auc"] = ev.Comparison("roc_auc", ev.NO_INTERVAL, ev.NO_INTERVAL, ev.NO_INTERVAL)
    else:
        singles = [_auc_single(s, t, z) for s, t in zip(summary.scores, tables, strict=True)]
        delta = ev.NO_INTERVAL
        if paired and spreads is not None:
            pos, neg = spreads
            delta = ev._normal(singles[0].value - singles[1].value,
                               pos.var_of_mean() + neg.var_of_mean(), z, -1.0, 1.0)
        out["roc_auc"] = ev.Comparison("roc_auc", singles[0],
                                       singles[1] if paired else ev.NO_INTERVAL, delta)
    for k in ev.LOSS_METRICS:
        sides = [summary.losses.get(f"{side}:{k}") for side in ("candidate", "production",
                                                                 "delta")]
        out[k] = ev.Comparison(k, *(ev.NO_INTERVAL if m is None else
                                    ev._normal(m.mean, m.var_of_mean(), z, -math.inf, math.inf)
                                    for m in sides))
    return {k: out[k] for k in METRICS}


# --------------------------------------------------------------------------- drift




def psi_from_counts(reference: Any, current: Any, eps: float) -> float:
    """PSI from the reference's and the current rows' counts in the same bins."""
    r, c = np.asarray(reference, dtype=np.float64), np.asarray(current, dtype=np.float64)
    if not r.sum() or not c.sum():
        return math.nan
    pr, pc = np.maximum(r / r.sum(), eps), np.maximum(c / c.sum(), eps)
    return max(float(np.sum((pc - pr) * np.log(pc / pr))), 0.0)


def value_counts(values: Any) -> tuple[np.ndarray, np.ndarray]:
    """The finite values' distinct values (sorted) and counts: an exact, mergeable sort."""
    a = np.asarray(values, dtype=np.float64).ravel()
    v, n = np.unique(a[np.isfinite(a)], return_counts=True)
    return v, n.astype(np.int64)


def merge_value_counts(a: tuple[np.ndarray, np.ndarray],
                       b: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    v, inverse = np.unique(np.concatenate((a[0], b[0])), return_inverse=True)
    return v, np.bincount(inverse, np.concatenate((a[1], b[1])), v.size).astype(np.int64)


def quantiles_from_counts(vc: tuple[np.ndarray, np.ndarray], q: Any) -> np.ndarray:
    """``np.quantile`` (linear method) of the values merged :func:`value_counts` describe."""
    values, cum = vc[0], np.cumsum(vc[1])
    pos = np.asarray(q, dtype=np.float64) * (cum[-1] - 1)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, cum[-1] - 1)

    def at(i: np.ndarray) -> np.ndarray:
        return values[np.searchsorted(cum, i, side="right")]

    return at(lo) + (pos - lo) * (at(hi) - at(lo))


def psi_from_value_counts(reference: tuple[np.ndarray, np.ndarray],
                          current: tuple[np.ndarray, np.ndarray], bins: int,
                          eps: float) -> float:
    """:func:`iterate.core.drift.psi` from merged :func:`value_counts`: the reference's inner
    quantiles as edges (deduplicated), then both samples' counts in those bins."""
    if not reference[1].sum() or not current[1].sum():
        return math.nan
    edges = np.unique(quantiles_from_counts(reference, np.linspace(0.0, 1.0, bins + 1)[1:-1]))

    def counts(vc: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        cum = np.concatenate(([0], np.cumsum(vc[1])))
        below = cum[np.searchsorted(vc[0], edges, side="right")]
        return np.diff(np.concatenate(([0], below, [cum[-1]])))

    return psi_from_counts(counts(reference), counts(current), eps)


def ks_statistic(reference: tuple[np.ndarray, np.ndarray],
                 current: tuple[np.ndarray, np.ndarray]) -> float:
    """The two-sample KS statistic (sup of the ECDFs' gap) from merged :func:`value_counts`."""
    if not reference[1].sum() or not current[1].sum():
        return math.nan
    grid = np.union1d(reference[0], current[0])
    return float(np.max(np.abs(ecdf(reference, grid) - ecdf(current, grid))))


def ecdf(vc: tuple[np.ndarray, np.ndarray], grid: np.ndarray) -> np.ndarray:
    """The empirical CDF of the values merged :func:`value_counts` describe, at ``grid``."""
    cum = np.concatenate(([0], np.cumsum(vc[1])))
    return cum[np.searchsorted(vc[0], grid, side="right")] / cum[-1]


def category_counts(values: Any) -> dict[Any, int]:
    """Counts of each category (missing values left out); counts add over partitions."""
    out: dict[Any, int] = {}
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        out[v] = out.get(v, 0) + 1
    return out
