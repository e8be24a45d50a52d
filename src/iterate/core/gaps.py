"""The gap between groups: for a column (the slice column, a sensitive column), the largest
difference of a metric between two of its groups, for candidate and production, and how much
the candidate widens it, each with a CI.

Computed from each group's paired comparison (:func:`iterate.core.evaluate.compare_slices`,
in its :func:`~iterate.core.evaluate.to_dict` form): each group's candidate and production
values are drawn jointly normal, with the standard errors their CIs give and the covariance
their Δ's CI gives (groups hold different rows, so they are independent); the gap of a draw is
its best group minus its worst, and the CI is the percentile interval of the draws. Groups too
small to judge (None) and metrics undefined in a group are left out; with fewer than two groups
there is no gap. Only numpy is imported.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from iterate.core import evaluate


def compare(groups: dict[str, dict[str, Any] | None], metrics: list[str], *,
            confidence: float, resamples: int, seed: int) -> dict[str, dict[str, Any] | None]:
    """Per metric, the gap of each model and its increase (candidate − production).

    Parameters
    ----------
    groups : dict
        ``{group: {metric: {"candidate", "candidate_low", ..., "delta_high"}} or None}``.
    metrics : list of str
    confidence, resamples, seed
        As in :func:`iterate.core.evaluate.compare`.

    Returns
    -------
    dict
        ``{metric: None or {candidate, candidate_low, candidate_high, production, ...,
        delta_high, groups, widest}}``: ``delta`` is the increase of the gap, ``groups`` how
        many groups were compared, ``widest`` each model's (best, worst) group.
    """
    z = evaluate._z(confidence)
    out = {}
    for metric in metrics:
        stats = {g: m[metric] for g, m in groups.items()
                 if m and _known(m[metric], "candidate")}
        if len(stats) < 2:
            out[metric] = None
            continue
        names = sorted(stats)
        paired = all(_known(stats[g], "production") and _known(stats[g], "delta")
                     for g in names)
        draws = _draws(names, stats, paired, z, resamples, seed)
        sides = {}
        for side, values in draws.items():
            point = np.array([stats[g][side] for g in names])
            sides[side] = (point, values)
        widest = {}
        gap = {}
        for side, (point, values) in sides.items():
            gap[side] = (float(point.max() - point.min()), values.max(axis=1) - values.min(axis=1))
            widest[side] = [names[int(point.argmax())], names[int(point.argmin())]]
        cand = _interval(*gap["candidate"], confidence)
        prod = _interval(*gap["production"], confidence) if paired else evaluate.NO_INTERVAL
        delta = (_interval(gap["candidate"][0] - gap["production"][0],
                           gap["candidate"][1] - gap["production"][1], confidence)
                 if paired else evaluate.NO_INTERVAL)
        result = evaluate.to_dict(evaluate.Comparison(metric, cand, prod, delta))
        out[metric] = {**result, "groups": len(names), "widest": widest}
    return out


def _known(stats: dict[str, Any], side: str) -> bool:
    return all(stats.get(k) is not None for k in (side, f"{side}_low", f"{side}_high"))


def _draws(names: list[str], stats: dict[str, dict[str, Any]], paired: bool, z: float,
           resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Draws (resamples x groups) of each model's value in each group."""
    rng = np.random.default_rng(seed)
    first, second = rng.standard_normal((2, resamples, len(names)))

    def se(side: str) -> np.ndarray:
        return np.array([(stats[g][f"{side}_high"] - stats[g][f"{side}_low"]) / (2 * z)
                         for g in names])

    cand = np.array([stats[g]["candidate"] for g in names])
    se_c = se("candidate")
    out = {"candidate": cand + se_c * first}
    if paired:
        se_p, se_d = se("production"), se("delta")
        cov = np.clip((se_c ** 2 + se_p ** 2 - se_d ** 2) / 2, -se_c * se_p, se_c * se_p)
        loading = np.divide(cov, se_c, out=np.zeros_like(cov), where=se_c > 0)
        rest = np.sqrt(np.maximum(se_p ** 2 - loading ** 2, 0.0))
        prod = np.array([stats[g]["production"] for g in names])
        out["production"] = prod + loading * first + rest * second
    return out


def _interval(point: float, draws: np.ndarray, confidence: float) -> evaluate.Interval:
    low, high = evaluate._percentile(draws, confidence)
    return evaluate.Interval(point, min(low, point), max(high, point))


def by_column(y: Any, candidate: Any, production: Any, columns: dict[str, Any],
              threshold: float | tuple[float, float], *, known: dict[str, dict[str, Any]],
              min_rows: int, min_change: float, confidence: float, resamples: int,
              seed: int) -> dict[str, Any]:
    """The gaps block of the evaluation: :func:`compare` of every metric for each column of
    ``columns`` (``{column: each row's group}``), the readings and the gaps that widened.
    ``known``: per-group comparisons computed already (the slice column's), reused."""
    from iterate.core import explain
    from iterate.core.metrics import METRICS

    ci = {"confidence": confidence, "resamples": resamples, "seed": seed}
    out = {}
    for column, values in columns.items():
        groups = known.get(column)
        if groups is None:
            groups = evaluate.to_dict(evaluate.compare_slices(
                y, candidate, production, values, threshold, min_rows=min_rows, **ci))
        out[column] = compare(groups, list(METRICS), **ci)
    return {"min_change": min_change, "columns": out,
            "widened": explain.read_gaps(out, min_change)}
