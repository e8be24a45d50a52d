"""Where things live in the repository (relative to its top folder).

The DVC stages get their paths from ``dvc.yaml``'s ``cmd``; these are the paths the ``iterate``
commands use, and they match the ones in ``dvc.yaml`` (tests/test_pipeline.py checks that).
"""

from pathlib import Path

SOURCE = Path("data/source")
RAW = Path("data/raw")
RAW_DVC = Path("data/raw.dvc")
QUARANTINE = Path("data/quarantine")
CANDIDATE = Path("models/candidate")
# The pending challenger with its pooled evidence, pinned at each landing (repo/challenger.py).
CHALLENGER = Path("models/challenger")
CHALLENGER_DVC = Path("models/challenger.dvc")
# The production model as the iteration began, pinned at each landing: what the stages read.
BASELINE = Path("models/baseline")
BASELINE_DVC = Path("models/baseline.dvc")
NONE_FILE = "NONE.txt"  # what models/baseline or models/challenger holds when it holds no model
# (DVC warns about an empty folder at every command)
# The deployed model: written by promote and rollback only, read by no stage.
PRODUCTION = Path("models/production")
PRODUCTION_DVC = Path("models/production.dvc")
REGISTRY = Path("models/registry.yaml")
CHANGELOG = Path("models/CHANGELOG.md")
PREDICTIONS = Path("data/predictions")
LABELS = PREDICTIONS / "labels"  # which predictions' labels landed in which batch (iterate label)
HOLDOUT = Path("data/prepared/holdout.parquet")  # prepare's newest batch (what evaluate judges on)
SCORES = Path("data/scores")  # each model's scores of the holdout (train, drift -> evaluate)
EVIDENCE = SCORES / "evidence.npz"  # the evaluate stage's pooled paired evidence
EVALUATION = Path("metrics/evaluation.json")
SLICES = Path("metrics/slices.json")
GATE = Path("metrics/gate.json")
DRIFT = Path("metrics/drift.json")
MONITOR = Path("metrics/monitor.json")
ADVICE = Path("metrics/advice.json")  # the recommendation alone: what train reads
PREDICTION_DRIFT = Path("metrics/predictions_drift.json")  # git-ignored: `iterate monitor`'s
NUMBERS = Path("metrics/numbers")  # the stages' numbers for `dvc metrics diff`
EVALUATION_PLOTS = Path("plots/evaluation")  # plot data for `dvc plots` (the evaluate stage)
MONITOR_PLOTS = Path("plots/monitor")  # the train stage's drift histories
FIGURES = Path("report/figures")  # the PNGs, drawn by `iterate report` and the loop (git-ignored)
# What the loop, promote and rollback write and commit (DVC-tracked data is committed as its
# .dvc / dvc.lock entry); nothing else of the repository is theirs.
COMMITTED = ["dvc.lock", str(RAW_DVC), "data/.gitignore", str(SCORES / ".gitignore"),
             str(QUARANTINE), "models",
             str(EVALUATION), str(SLICES), str(GATE), str(DRIFT), str(MONITOR),
             str(ADVICE), str(NUMBERS),
             str(EVALUATION_PLOTS), str(MONITOR_PLOTS)]
# What dvc.lock records besides: a commit of a promotion made by hand (`promote --tag`) after
# editing them holds the pipeline the model was built by.
PIPELINE_INPUTS = ["params.yaml", "dvc.yaml"]
