"""The update policy: keep the production model, update it incrementally, or retrain in full,
from the drift report of the newest batch and production's realised performance on it."""

from __future__ import annotations

from typing import Any

from iterate.core.drift import DriftReport
from iterate.core.evaluate import Interval
from iterate.core.metrics import HIGHER_IS_BETTER


def recommend(report: DriftReport, *, has_new_data: bool,
              severe_js: float | None = None) -> tuple[str, list[str]]:
    """Retraining advice from a drift report: ``"keep"``, ``"incremental"`` or ``"full"``.

    Reasoning (the levels are the report's options, params' ``drift`` section):

    - ``"full"``: the data the model learnt from no longer describes what it sees, so updating
      it in small steps would keep the stale structure. That is the case when the dataset drifts
      (share of drifting columns >= ``share_threshold``), when a drifting column moved severely
      (PSI >= ``severe_psi``, 0.5 being far beyond PSI's 0.25 "major shift" rule of thumb; or
      Jensen-Shannon >= ``severe_js``, by default twice ``js_threshold``), or when categories the
      model never saw make up >= ``severe_unseen_share`` of a column's current values (the model
      has no learnt behaviour for them).
    - ``"incremental"``: some column drifts, but mildly, or there are new labelled rows; the
      model is still valid and cheap updates keep it current.
    - ``"keep"``: nothing drifts and nothing new to learn from.

    Only columns with enough data count: a 10-row batch with a huge PSI is noise.

    Parameters
    ----------
    report : iterate.core.drift.DriftReport
    has_new_data : bool
        Whether labelled rows arrived since the production model was trained.
    severe_js : float, optional
        The Jensen-Shannon distance that makes a drifting categorical column severe.

    Returns
    -------
    tuple
        ``(advice, reasons)``, reasons as human-readable sentences (never empty).
    """
    o = report.options
    js_severe = 2.0 * o.js_threshold if severe_js is None else severe_js
    full: list[str] = []
    mild: list[str] = []
    if report.dataset_drift:
        full.append(f"dataset drift: {len(report.drifted)} of {report.tested} tested columns "
                    f"drift (share {report.share:.2f} >= {o.share_threshold})")
    for c in report.columns:
        if c.status == "insufficient_data":
            continue
        severe_level = o.severe_psi if c.kind == "numeric" else js_severe
        if c.status == "drift":
            line = f"{c.name}: {c.effect} {c.effect_size:.3f}"
            if c.effect_size >= severe_level:
                full.append(f"{line} >= {severe_level} (severe drift)")
            else:
                mild.append(f"{line} (drift)")
        if c.unseen_share >= o.severe_unseen_share:
            full.append(f"{c.name}: {c.unseen_share:.1%} of current values are categories "
                        f"never seen in training ({len(c.unseen_categories)} new)")
    if full:
        return "full", full + mild
    if mild or has_new_data:
        return "incremental", mild + (["new labelled data"] if has_new_data else [])
    return "keep", ["no column drifts and no new labelled data"]


def degradation(metric: str, now: Interval, at_promotion: float | None,
                threshold: float) -> tuple[bool, str]:
    """Alarm when the metric is worse than at promotion by more than ``threshold``, judged on
    the CI's optimistic end (so the alarm means the data shows the loss)."""
    if now.value is None:
        return False, f"{metric}: cannot be computed on this batch (one class only?)"
    if at_promotion is None:
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
