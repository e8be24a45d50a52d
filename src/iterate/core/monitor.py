"""Monitoring: production's performance on each batch as it arrives, the degradation alarm,
the retraining recommendation, and the history kept across iterations."""

from __future__ import annotations

from typing import Any

import pandas as pd

from iterate.core.evaluate import Interval
from iterate.core.metrics import HIGHER_IS_BETTER


def degradation(metric: str, now: Interval, at_promotion: float | None,
                threshold: float) -> tuple[bool, str]:
    """Alarm when the metric is worse than at promotion by more than ``threshold``, judged on
    the CI's optimistic end (so the alarm means the data shows the loss)."""
    if at_promotion is None or now.value is None:
        return False, f"{metric}: no value at promotion to compare with"
    if HIGHER_IS_BETTER[metric]:
        best, loss = now.ci_high, at_promotion - now.value
        alarm = best is not None and best < at_promotion - threshold
    else:
        best, loss = now.ci_low, now.value - at_promotion
        alarm = best is not None and best > at_promotion + threshold
    verb = "fell" if alarm else "holds"
    return alarm, (f"{metric} {verb}: {now.value:.4f} now (CI [{now.ci_low:.4f}, "
                   f"{now.ci_high:.4f}]) vs {at_promotion:.4f} at promotion, a loss of {loss:+.4f}"
                   f" against the tolerated {threshold}")


def recommendation(drift_advice: str, drift_reasons: list[str], alarm: bool,
                   alarm_reason: str) -> dict[str, Any]:
    """Combine the drift advice with the degradation alarm: an alarm means a full refit."""
    if alarm:
        return {"recommendation": "full", "reasons": [alarm_reason, *drift_reasons]}
    return {"recommendation": drift_advice, "reasons": drift_reasons}


def append_new(history: pd.DataFrame | None, rows: pd.DataFrame,
               key: list[str]) -> pd.DataFrame | None:
    """``history`` with those of ``rows`` whose ``key`` it lacks appended at its end, or None
    when it has them all. Append-only: a batch judged once keeps its first rows, whatever a
    rerun of the stage on it finds (a re-pinned baseline, a changed param)."""
    if history is None or history.empty:
        return rows.reset_index(drop=True)
    known = history[key].astype(str).drop_duplicates()
    seen = rows[key].astype(str).merge(known, on=key, how="left", indicator=True)
    new = rows[(seen["_merge"] == "left_only").to_numpy()]
    if new.empty:
        return None
    return pd.concat([history, new], ignore_index=True)
