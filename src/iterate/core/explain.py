"""Reading what a version relies on and whom it serves worse (docs/explain.md): which
features' importance moved, which gaps between groups widened, the gate's rule on gaps, and
the summary the gate, the changelog and the model card show. No numpy: the gate imports it.

A change is named only when its CI says so: the CI excludes zero and the change is at least
``min_change``. A CI within ±``min_change`` reads "unchanged"; any other reads "not enough
rows to tell" (the CI is wider than the effect), never a change.
"""

from __future__ import annotations

from typing import Any

UNCHANGED, UNCLEAR = "unchanged", "not enough rows to tell"
MAX_GAP_INCREASE = "max_gap_increase"


def reading(stats: dict[str, Any], min_change: float, up: str, down: str) -> str | None:
    """``up``, ``down``, :data:`UNCHANGED` or :data:`UNCLEAR` for a Δ with its CI (``delta``,
    ``delta_low``, ``delta_high``); None when there is no Δ (one model only)."""
    delta, low, high = (stats.get(k) for k in ("delta", "delta_low", "delta_high"))
    if delta is None or low is None or high is None:
        return None
    if low > 0 and delta >= min_change:
        return up
    if high < 0 and -delta >= min_change:
        return down
    if -min_change <= low and high <= min_change:
        return UNCHANGED
    return UNCLEAR


def read_importance(features: dict[str, dict[str, Any]], min_change: float) -> list[str]:
    """Add each feature's ``reading`` (in place); return the features that moved, the largest
    change first."""
    for stats in features.values():
        stats["reading"] = reading(stats, min_change, "more important", "less important")
    moved = [f for f, s in features.items() if s["reading"] in ("more important",
                                                                "less important")]
    return sorted(moved, key=lambda f: -abs(features[f]["delta"]))


def read_gaps(columns: dict[str, dict[str, Any]], min_change: float) -> list[str]:
    """Add each gap's ``reading`` (in place); return the gaps that widened, as
    ``"METRIC by COLUMN"``."""
    widened = []
    for column, metrics in columns.items():
        for metric, stats in metrics.items():
            if stats is None:
                continue
            stats["reading"] = reading(stats, min_change, "widened", "narrowed")
            if stats["reading"] == "widened":
                widened.append(f"{metric} by {column}")
    return widened


def gap_rules(gaps: dict[str, Any] | None, metrics: list[str],
              max_increase: float) -> list[dict[str, Any]]:
    """The gate's rule on gaps, as the fields of :class:`iterate.core.gate.RuleResult`: for
    each metric and column, the gap may widen by at most ``max_increase`` on the CI's
    pessimistic end (its high end); a column with fewer than two groups large enough to judge
    has no gap and no rule. The improvement is −(the increase), so a rule passes as
    the others do: when the improvement's CI low end is ≥ −``max_increase``."""
    out = []
    for column, by_metric in ((gaps or {}).get("columns") or {}).items():
        for metric in metrics:
            stats = by_metric.get(metric)
            name = f"{metric} gap between {column} groups"
            base = {"rule": MAX_GAP_INCREASE, "metric": metric, "scope": f"gap by {column}",
                    "threshold": -max_increase}
            if stats is None or stats.get("delta_high") is None:
                continue  # fewer than two groups with enough rows: no gap to judge
            increase, low, high = stats["delta"], stats["delta_low"], stats["delta_high"]
            passed = high <= max_increase + 1e-12
            verb = "within" if passed else "beyond"
            out.append({**base, "improvement": round(-increase, 6),
                        "improvement_ci": [round(-high, 6), round(-low, 6)], "passed": passed,
                        "reason": f"{name}: {stats.get('production'):.4f} -> "
                                  f"{stats.get('candidate'):.4f}, widens {increase:+.4f}, CI "
                                  f"[{low:+.4f}, {high:+.4f}]; worst case {verb} the tolerated "
                                  f"widening {max_increase:.4f}"})
    return out


KEPT = ("candidate", "candidate_low", "candidate_high", "production", "delta", "delta_low",
        "delta_high", "reading")


def summary(evaluation: dict[str, Any]) -> dict[str, Any] | None:
    """What the gate's verdict, the changelog and the model card say of importance and gaps
    (from the evaluate stage's results; None when it computed neither)."""
    importance, gaps = evaluation.get("importance"), evaluation.get("gaps")
    if not importance and not gaps:
        return None
    out: dict[str, Any] = {}
    if importance:
        out["importance"] = {
            "metric": importance["metric"], "rows": importance["rows"],
            "moved": importance["moved"],
            "features": {f: {k: s.get(k) for k in KEPT} for f, s in
                         importance["features"].items()}}
    if gaps:
        out["gaps"] = {"widened": gaps["widened"], "columns": {
            column: {m: None if s is None else {k: s.get(k) for k in (*KEPT, "widest")}
                     for m, s in metrics.items()}
            for column, metrics in gaps["columns"].items()}}
    return out


def lines(summary_: dict[str, Any] | None) -> list[str]:
    """One line each for what moved and which gaps widened (the gate's printout, the
    changelog); empty without a summary."""
    if not summary_:
        return []
    out = []
    importance = summary_.get("importance")
    if importance:
        features = importance["features"]
        if importance["moved"]:
            out.append("importance moved: " + "; ".join(
                f"{f} {features[f]['reading']} ({features[f]['delta']:+.4f} "
                f"{importance['metric']}, CI [{features[f]['delta_low']:+.4f}, "
                f"{features[f]['delta_high']:+.4f}])" for f in importance["moved"]))
        elif any(s.get("reading") for s in features.values()):
            unclear = [f for f, s in features.items() if s.get("reading") == UNCLEAR]
            out.append("importance: no feature moved beyond its CI" + (
                f"; not enough rows to tell for {', '.join(unclear)}" if unclear else ""))
    gaps = summary_.get("gaps")
    if gaps and gaps["widened"]:
        out.append(f"gaps widened: {', '.join(gaps['widened'])}")
    return out
