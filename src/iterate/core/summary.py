"""What one iteration of the loop did, as a table row, a commit message and a printed table."""

from __future__ import annotations

from typing import Any

from iterate.core import tables
from iterate.core.batches import BatchInfo

SHOWN = (("f1", "F1"), ("roc_auc", "ROC AUC"))


def iteration_row(batch: BatchInfo, number: int, evaluation: dict[str, Any],
                  verdict: dict[str, Any], version: str | None) -> dict[str, Any]:
    return {"number": number, "batch": batch.id, "rows": evaluation["holdout"]["rows"],
            "metrics": {m: evaluation["metrics"][m] for m, _ in SHOWN},
            "verdict": verdict["verdict"], "version": version,
            "note": verdict["reasons"][0] if verdict["verdict"] == "skip" else None}


def commit_message(row: dict[str, Any]) -> str:
    outcome = f"promoted v{row['version']}" if row["version"] else row["verdict"]
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
            m = {} if row.get("note") else row["metrics"][metric]  # skipped: nothing judged
            cells += [_num(m.get("candidate")), _num(m.get("production")), _delta(m)]
        verdict = row.get("note") or row["verdict"].replace("_", " ")
        cells.append(f"{verdict} -> v{row['version']}" if row["version"] else verdict)
        body.append(cells)
    return tables.text(header, body)


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _delta(m: dict[str, Any]) -> str:
    if m.get("delta") is None:
        return "—"
    low, high = m.get("delta_low"), m.get("delta_high")
    ci = f" [{low:+.3f}, {high:+.3f}]" if low is not None and high is not None else ""
    return f"{m['delta']:+.3f}{ci}"


def monitoring(monitor: dict[str, Any], shown: int = 4) -> str:
    """The drift stage's verdict on the newest batch, for the end of ``make run``."""
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
