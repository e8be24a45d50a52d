"""The metrics the evaluation reports and the direction of each (no numpy: the gate and the
params loader need the names, not the statistics)."""

from __future__ import annotations

METRICS: tuple[str, ...] = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "roc_auc",
    "log_loss",
    "brier",
)
HIGHER_IS_BETTER: dict[str, bool] = {
    "accuracy": True,
    "precision": True,
    "recall": True,
    "f1": True,
    "roc_auc": True,
    "log_loss": False,
    "brier": False,
}
