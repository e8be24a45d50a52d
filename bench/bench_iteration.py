"""Benchmark: the wall time of one loop iteration against a plain script doing the same work.

One iteration = `iterate replay --next` (land one weekly batch) + `dvc repro` (prepare, train,
evaluate, gate). The plain script is one Python process that reads the same files, fits the
same estimator and scores candidate and production on the same holdout (no DVC, no CIs, no
plots, no contract). Both are timed on the same machine in the same run; the ratio is reported.

Then the same iteration in incremental mode (sgd_logistic) early in the history (batch 4) and
late (batch 40): incremental work should not grow with the history.

    .venv/bin/python bench/bench_iteration.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import Repo, template_files  # noqa: E402

PLAIN = r"""
import sys, pickle, pandas as pd
from sklearn.metrics import f1_score, roc_auc_score, log_loss
from iterate import params, models
p = params.load()
raw = sorted(__import__("glob").glob("data/raw/*.parquet"))
window = p.split.window
train = pd.concat([pd.read_parquet(f) for f in raw[-window - 1:-1]])
holdout = pd.read_parquet(raw[-1])
new = pd.read_csv(sys.argv[1])              # the batch as it arrives
pipeline = models.build(p.model, p.contract)
pipeline.fit(train[p.contract.features], train[p.contract.label])
production = pickle.load(open(sys.argv[2], "rb"))
y = holdout[p.contract.label]
for m in (pipeline, production):
    proba = m.predict_proba(holdout[p.contract.features])[:, 1]
    f1_score(y, proba >= p.model.threshold), roc_auc_score(y, proba), log_loss(y, proba)
"""


class Workspace(Repo):
    """A temporary copy of the template whose commands return their wall time."""

    def __init__(self, root: Path):
        for name in template_files():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
        super().__init__(root)
        self.root = root
        self.run("git", "init", "-q")
        self.run("git", "add", "-A")
        self.run("git", "commit", "-qm", "template")

    def run(self, *args: str, check: bool = True) -> float:
        start = time.perf_counter()
        subprocess.run(args, cwd=self.path, env=self.env, check=check,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return time.perf_counter() - start

    def history(self, through: str) -> None:
        """Land every batch up to ``through``, run the pipeline once and promote."""
        self.iterate("replay", "--through", through)
        self.dvc("repro")
        self.iterate("promote", "--force", "--reason", "benchmark baseline")

    def iteration(self) -> float:
        """Land the next batch and reproduce; promote afterwards (not timed)."""
        seconds = self.iterate("replay", "--next") + self.dvc("repro")
        self.iterate("promote", "--force", "--reason", "benchmark")
        return seconds

    def plain(self) -> float:
        """The plain script on the same files, with a pickled copy of production."""
        newest = sorted((self.root / "data/raw").glob("*.parquet"))[-1]
        csv = self.root / "bench-batch.csv"
        pickled = self.root / "bench-production.pkl"
        code = ("import pandas as pd, pickle; from iterate import models; "
                f"pd.read_parquet('{newest}').to_csv('{csv}', index=False); "
                f"pickle.dump(models.load('models/production').pipeline, open('{pickled}', 'wb'))")
        self.run(sys.executable, "-c", code)
        return self.run(sys.executable, "-c", PLAIN, str(csv), str(pickled))


def median_of(repeats: int, measure) -> float:
    return statistics.median(measure() for _ in range(repeats))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        full = Workspace(Path(tmp) / "full")
        full.history("2013-02-25")
        loop = median_of(args.repeats, full.iteration)
        plain = median_of(args.repeats, full.plain)
        rows.append(("full refit (hist_gradient_boosting), one iteration", loop, plain))

        for label, through in (("batch 4", "2013-01-28"), ("batch 40", "2013-10-07")):
            inc = Workspace(Path(tmp) / label.replace(" ", ""))
            inc.set_params(**{"model.kind": "sgd_logistic", "train.mode": "incremental"})
            inc.history(through)
            seconds = median_of(args.repeats, inc.iteration)
            rows.append((f"incremental (sgd_logistic) at {label}", seconds, inc.plain()))

    print(f"\none iteration = land one weekly batch + dvc repro; median of {args.repeats}; "
          f"{os.cpu_count()} cores\n")
    print(f"{'case':<52} {'loop s':>7} {'plain s':>8} {'ratio':>6}")
    for label, loop_s, plain_s in rows:
        print(f"{label:<52} {loop_s:7.2f} {plain_s:8.2f} {loop_s / plain_s:6.2f}")
    early, late = rows[1][1], rows[2][1]
    print(f"\nincremental batch 40 / batch 4: {late / early:.2f} (goal <= 1.2)")
    print(f"full iteration / plain script: {rows[0][1] / rows[0][2]:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
