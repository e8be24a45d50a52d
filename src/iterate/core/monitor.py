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


def upsert(history: pd.DataFrame | None, rows: pd.DataFrame, key: list[str]) -> pd.DataFrame:
    """``history`` with ``rows`` added, replacing earlier rows of the same ``key`` (so running
    a stage twice on the same batch records it once), ordered by ``key``."""
    if history is None or history.empty:
        return rows.sort_values(key).reset_index(drop=True)
    kept = history.merge(rows[key].drop_duplicates(), on=key, how="left", indicator=True)
    kept = history[(kept["_merge"] == "left_only").to_numpy()]
    return pd.concat([kept, rows], ignore_index=True).sort_values(key).reset_index(drop=True)
