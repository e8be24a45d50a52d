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


KEPT = ("candidate", "candidate_low", "candidate_high", "production", "production_low",
        "production_high", "delta", "delta_low", "delta_high", "reading")


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


# ---------------------------------------------------------------- markdown (card, report)

METRIC_WORDS = {"roc_auc": "ROC AUC", "log_loss": "log loss", "brier": "Brier score"}


def importance_table(summary_: dict[str, Any] | None, first: str = "candidate",
                     second: str = "production") -> list[str]:
    """Each feature's importance for both models (``first``, ``second``: the column titles),
    the paired Δ with its CI and its reading, most important first; empty without importance."""
    importance = (summary_ or {}).get("importance")
    if not importance or not importance.get("features"):
        return []
    features = importance["features"]
    order = sorted(features, key=lambda f: -(features[f].get("candidate") or 0))
    rows = [f"| feature | {first} | {second} | Δ | 95% CI of Δ | reading |",
            "|---|--:|--:|--:|--:|---|"]
    for f in order:
        s = features[f]
        rows.append(f"| {_cell(f)} | {_with_ci(s, 'candidate')} | {_with_ci(s, 'production')} | "
                    f"{_signed(s.get('delta'))} | {_ci(s.get('delta_low'), s.get('delta_high'))}"
                    f" | {_reading(s.get('reading'))} |")
    return rows


def gaps_table(summary_: dict[str, Any] | None, first: str = "candidate",
               second: str = "production") -> list[str]:
    """The largest gap between groups of each metric and column, for both models, with how
    much the candidate widens it (its CI and reading); empty without gaps."""
    columns = ((summary_ or {}).get("gaps") or {}).get("columns") or {}
    rows = [f"| column | metric | {first} | {second} | widens by | 95% CI | reading | "
            "highest vs lowest group |", "|---|---|--:|--:|--:|--:|---|---|"]
    for column, metrics in columns.items():
        for metric, s in metrics.items():
            if s is None:
                rows.append(f"| {_cell(column)} | {_name(metric)} | — | — | — | — | fewer than "
                            "two groups with enough rows | |")
                continue
            widest = (s.get("widest") or {}).get("candidate") or []
            rows.append(f"| {_cell(column)} | {_name(metric)} | {_fixed(s.get('candidate'))} | "
                        f"{_fixed(s.get('production'))} | {_signed(s.get('delta'))} | "
                        f"{_ci(s.get('delta_low'), s.get('delta_high'))} | "
                        f"{_reading(s.get('reading'))} | {_cell(' vs '.join(widest))} |")
    return rows if len(rows) > 2 else []


def changelog_lines(summary_: dict[str, Any] | None) -> list[str]:
    """The changelog entry's bullets: what the version relies on most, what moved, which gaps
    widened."""
    if not summary_:
        return []
    out = []
    importance = summary_.get("importance")
    if importance and importance.get("features"):
        features = importance["features"]
        top = sorted((f for f in features if features[f].get("candidate") is not None),
                     key=lambda f: -features[f]["candidate"])[:3]
        out.append(f"- **Relies most on** ({_name(importance['metric'])} lost when shuffled): "
                   + ", ".join(f"{f} {features[f]['candidate']:.4f}" for f in top))
        moved = importance.get("moved") or []
        if moved:
            out.append("- **Importance moved:** " + "; ".join(
                f"{f} {features[f]['reading']} ({features[f]['delta']:+.4f}, 95% CI "
                f"{_ci(features[f]['delta_low'], features[f]['delta_high'])})" for f in moved))
        elif any(s.get("reading") for s in features.values()):
            unclear = sum(s.get("reading") == UNCLEAR for s in features.values())
            out.append("- **Importance moved:** no feature beyond its CI"
                       + (f" ({UNCLEAR} for {unclear} of {len(features)})" if unclear else ""))
    gaps = summary_.get("gaps")
    if gaps and gaps.get("columns"):
        out.append("- **Gaps between groups widened:** "
                   + (", ".join(gaps["widened"]) if gaps.get("widened") else "none beyond its CI"))
    return out


def _with_ci(s: dict[str, Any], side: str) -> str:
    value = s.get(side)
    if value is None:
        return "—"
    low, high = s.get(f"{side}_low"), s.get(f"{side}_high")
    return f"{value:.4f}" + (f" [{low:.4f}, {high:.4f}]" if low is not None and high is not None
                             else "")


def _reading(reading: str | None) -> str:
    if reading in ("more important", "less important", "widened"):
        return f"**{reading}**"
    return reading or ""


def _name(metric: str) -> str:
    return METRIC_WORDS.get(metric, metric.replace("_", " "))


def _fixed(x: float | None) -> str:
    return "—" if x is None else f"{x:.4f}"


def _signed(x: float | None) -> str:
    return "—" if x is None else f"{x:+.4f}"


def _ci(low: float | None, high: float | None) -> str:
    return "—" if low is None or high is None else f"[{low:+.4f}, {high:+.4f}]"


def _cell(x: Any) -> str:
    return str(x).replace("<", "&lt;").replace("|", "\\|").replace("\n", " ")
