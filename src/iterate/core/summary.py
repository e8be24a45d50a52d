"""What one iteration of the loop did, as a table row, a commit message and a printed table."""

from __future__ import annotations

from typing import Any

from iterate.core import tables
from iterate.core.batches import BatchInfo

SHOWN = (("f1", "F1"), ("roc_auc", "ROC AUC"))
WHY_SHOWN = 2  # failed rules named in a reject's cell; the rest are counted
WHY_LEGEND = ("reject: the rules that failed, on the worst end of the 95% CI of each "
              "improvement (`iterate gate` tells all)")


def iteration_row(batch: BatchInfo, number: int, evaluation: dict[str, Any],
                  verdict: dict[str, Any], version: str | None) -> dict[str, Any]:
    return {"number": number, "batch": batch.id, "rows": evaluation["holdout"]["rows"],
            "metrics": {m: evaluation["metrics"][m] for m, _ in SHOWN},
            "verdict": verdict["verdict"], "version": version, "why": why(verdict)}


def why(verdict: dict[str, Any]) -> list[str]:
    """What decided a reject: each failed rule with its numbers, and the breaking changes; why
    a holdout was skipped; the pooled evidence's conclusion (reject, pending); empty for the
    other verdicts."""
    if verdict["verdict"] in ("skip", "pending") or (verdict["verdict"] == "reject" and
                                                     verdict.get("evidence") is not None):
        return verdict["reasons"][:1]  # the pooled evidence's conclusion, or why it waits
    if verdict["verdict"] != "reject":
        return []
    failed = [_failed_rule(r) for r in verdict.get("rules", []) if not r["passed"]]
    breaking = [c for c in verdict.get("compatibility", []) if c["kind"] == "breaking"]
    if breaking:
        failed.append(f"{len(breaking)} breaking change{'s' if len(breaking) > 1 else ''}")
    return failed or verdict["reasons"][:1]


def _failed_rule(rule: dict[str, Any]) -> str:
    name = dict(SHOWN).get(rule["metric"], rule["metric"].replace("_", " "))
    if rule["scope"] != "overall":
        name += f" ({rule['scope']})"
    if rule["improvement_ci"] is None:
        return f"{name} not computable on this holdout"
    worst, threshold = rule["improvement_ci"][0], rule["threshold"]
    if rule["rule"] == "non_inferiority":
        return f"{name} up to {-worst:.4f} worse ({-threshold:.4f} tolerated)"
    if rule["rule"] == "max_gap_increase":
        return f"{name} widens up to {-worst:.4f} ({-threshold:.4f} tolerated)"
    return f"{name} gain {worst:+.4f} at worst ({threshold:+.4f} required)"


def _outcome(row: dict[str, Any]) -> str:
    verdict = row["verdict"].replace("_", " ")
    if row["version"]:
        return f"{verdict} -> v{row['version']}"
    reasons = row.get("why") or []
    if not reasons:
        return verdict
    if row["verdict"] == "skip":  # its reason says "skipped: ..."
        return reasons[0]
    more = len(reasons) - WHY_SHOWN
    return f"{verdict}: {'; '.join(reasons[:WHY_SHOWN])}" + (f"; {more} more" if more > 0 else "")


def commit_message(row: dict[str, Any]) -> str:
    outcome = f"promoted v{row['version']}" if row["version"] else _outcome(row)
    return f"iterate: batch {row['number']} ({row['batch']}): {outcome}"


def table(rows: list[dict[str, Any]]) -> str:
    """Candidate vs production on each iteration's holdout, with Δ and its CI."""
    header = ["#", "holdout batch", "rows"]
    for _, title in SHOWN:
        header += [f"{title} cand", f"{title} prod", f"{title} Δ [95% CI]"]
    header += ["verdict"]
    body = []
    for row in rows:
        cells = [str(row["number"]), row["batch"], str(row["rows"])]
        for metric, _ in SHOWN:
            m = {} if row["verdict"] == "skip" else row["metrics"][metric]  # nothing judged
            cells += [_num(m.get("candidate")), _num(m.get("production")), _delta(m)]
        cells.append(_outcome(row))
        body.append(cells)
    legend = any(row["verdict"] == "reject" for row in rows)
    return tables.text(header, body) + (f"\n{WHY_LEGEND}" if legend else "")


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _delta(m: dict[str, Any]) -> str:
    if m.get("delta") is None:
        return "—"
    low, high = m.get("delta_low"), m.get("delta_high")
    ci = f" [{low:+.3f}, {high:+.3f}]" if low is not None and high is not None else ""
    return f"{m['delta']:+.3f}{ci}"


def monitoring(monitor: dict[str, Any], shown: int = 4) -> str:
    """The drift step's verdict on the newest batch, for the end of ``make run``."""
    lines = [f"Monitoring of batch {monitor['batch']}: recommendation "
             f"{monitor['recommendation'].upper()}"]
    perf = monitor.get("performance")
    if perf:
        promoted = perf["at_promotion"]
        lines.append(f"  production v{perf['version']} {perf['metric']} {_num(perf['value'])} "
                     f"[{_num(perf['low'])}, {_num(perf['high'])}] on it, "
                     f"{_num(promoted)} at promotion"
                     + (" -> DEGRADED" if perf["degraded"] else ""))
    reasons = monitor["reasons"]
    lines += [f"  - {r}" for r in reasons[:shown]]
    if len(reasons) > shown:
        lines.append(f"  - ... {len(reasons) - shown} more in metrics/monitor.json")
    return "\n".join(lines)
