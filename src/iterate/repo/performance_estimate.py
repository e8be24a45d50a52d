"""Estimated performance of each version on the prediction log, before labels arrive: per
version (with the calibration kept with it, :mod:`iterate.repo.calibration`) and per period of
``scored_at`` (``estimate.bucket``), by :func:`iterate.core.estimate.estimate`. What
``iterate monitor`` writes under the key ``estimated``, and ``iterate report`` shows."""

from __future__ import annotations

from typing import Any

import numpy as np

from iterate.core import estimate
from iterate.repo import calibration, deploy, predlog, registry
from iterate.repo.layout import PREDICTIONS

PERIODS = {"hour": "h", "day": "D", "week": "W", "month": "M"}


def estimated(p) -> dict[str, Any]:
    """Every version in the log: its estimate over all its rows and per bucket, or why none
    (no calibration kept with it)."""
    settings = p.estimate
    entries = deploy.read_registry()
    current = registry.current(entries)
    log = predlog.read(columns=[predlog.SCORED_AT, predlog.VERSION, predlog.SCORE])
    versions = []
    for version, rows in log.groupby(log[predlog.VERSION].astype(str), sort=False):
        entry = next((e for e in reversed(entries) if e.get("version") == version), None)
        kept = calibration.read(version, entry, current["version"] if current else None)
        if kept is None:
            versions.append({"version": version, "rows": len(rows), "calibration_rows": 0,
                             "reason": f"no {calibration.FILE} kept with v{version} (promoted "
                                       "before estimates were kept, or not in the DVC cache)"})
            continue
        reference_scores, labels, threshold = kept
        fitted = estimate.calibrate(reference_scores, labels, resamples=settings.resamples,
                                    seed=settings.seed)
        period = rows[predlog.SCORED_AT].dt.tz_convert("UTC").dt.tz_localize(None).dt.to_period(
            PERIODS[settings.bucket]).dt.start_time
        buckets = []
        for k, (start, part) in enumerate(rows.groupby(period, sort=True)):
            buckets.append({"start": start.strftime("%Y-%m-%dT%H:%M:%SZ"), "rows": len(part),
                            "metrics": estimate.estimate(fitted, part[predlog.SCORE], threshold,
                                                         settings.confidence,
                                                         settings.seed + k + 1)})
        versions.append({
            "version": version, "rows": len(rows), "calibration_rows": fitted.reference_rows,
            "threshold": threshold,
            "overall": estimate.estimate(fitted, rows[predlog.SCORE], threshold,
                                         settings.confidence, settings.seed),
            "buckets": buckets})
    return {"method": "CBPE (Platt-calibrated on the version's holdout)",
            "bucket": settings.bucket, "confidence": settings.confidence,
            "resamples": settings.resamples, "log": str(PREDICTIONS), "versions": versions}


def summary(result: dict[str, Any]) -> str:
    """One line: each version's estimated ROC AUC over its rows, with the interval."""
    said = []
    for v in result["versions"]:
        auc = (v.get("overall") or {}).get("roc_auc")
        said.append(f"v{v['version']} n/a" if auc is None or auc["value"] is None else
                    f"v{v['version']} {auc['value']:.3f} [{_f(auc['low'])}, {_f(auc['high'])}]")
    return "estimated ROC AUC " + ("; ".join(said) or "none")


def _f(x: float | None) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.3f}"
