"""train: fit the candidate model, fully on the training window or incrementally from the
production model, and save it as a bundle."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from iterate import models, params, training
from iterate.stages import run

PARAMS = ("model", "train", "contract")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="train", description=__doc__)
    parser.add_argument("train", type=Path, help="training rows (prepare's train.parquet)")
    parser.add_argument("production", type=Path, help="the production model bundle (may be empty)")
    parser.add_argument("monitor", type=Path, help="the drift stage's recommendation (for auto)")
    parser.add_argument("out", type=Path, help="folder for the candidate bundle")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)

    rows = pd.read_parquet(args.train)
    advice = json.loads(args.monitor.read_text(encoding="utf-8"))["recommendation"]
    mode = training.resolve_mode(p.train.mode, advice)
    production = None
    if mode != "full" and models.exists(args.production):
        production = models.load(args.production)
    plan = training.plan(mode, p.model, rows, production.meta if production else None)
    candidate = training.fit(plan, p.model, p.contract, production)
    reference = training.reference_sample(rows, p.train.reference_rows, p.model.seed)
    candidate.reference = reference[[*p.contract.features, p.contract.label]].assign(
        score=candidate.predict_proba(reference))
    models.save(candidate, args.out)
    auto = f" (auto: monitoring recommends {advice})" if p.train.mode == "auto" else ""
    print(f"train: {p.model.kind}, {plan.note}{auto}")


if __name__ == "__main__":
    run(main)
