"""Where things live in the repository (relative to its top folder).

The DVC stages get their paths from ``dvc.yaml``'s ``cmd``; these are the paths the ``iterate``
commands use, and they match the ones in ``dvc.yaml`` (tests/test_pipeline.py checks that).
"""

from pathlib import Path

SOURCE = Path("data/source")
RAW = Path("data/raw")
QUARANTINE = Path("data/quarantine")
CANDIDATE = Path("models/candidate")
PRODUCTION = Path("models/production")
PRODUCTION_DVC = Path("models/production.dvc")
REGISTRY = Path("models/registry.yaml")
CHANGELOG = Path("models/CHANGELOG.md")
PREDICTIONS = Path("data/predictions")
EVALUATION = Path("metrics/evaluation.json")
SLICES = Path("metrics/slices.json")
GATE = Path("metrics/gate.json")
DRIFT = Path("metrics/drift.json")
MONITOR = Path("metrics/monitor.json")
PREDICTION_DRIFT = Path("metrics/predictions_drift.json")
EVALUATION_PLOTS = Path("plots/evaluation")  # plot data for `dvc plots` (the evaluate stage)
MONITOR_PLOTS = Path("plots/monitor")  # the drift stage's histories
FIGURES = Path("report/figures")  # the PNGs, drawn by `iterate report` and the loop (git-ignored)
# What one iteration changes in git (DVC-tracked data is committed as its .dvc / dvc.lock entry).
COMMITTED = ["params.yaml", "dvc.yaml", "dvc.lock", "data", "models", "metrics", "plots"]


def ensure_production_folder() -> None:
    """``models/production`` is a dependency of the pipeline: it exists, empty, until the first
    promotion (git keeps no empty folders, so a fresh clone lacks it)."""
    PRODUCTION.mkdir(parents=True, exist_ok=True)
