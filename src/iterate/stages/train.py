"""train: fit the candidate model, fully on the training window (read in chunks) or
incrementally from the baseline (the production model as the iteration began), save it as a
bundle, and score the holdout with it (the scores the evaluate stage compares)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from iterate import params
from iterate.stages import run

if TYPE_CHECKING:
    from iterate.core.training import Bundle

PARAMS = ("model", "train", "contract", "explain")


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="train", description=__doc__)
    parser.add_argument("train", type=Path, help="training rows (prepare's train.parquet)")
    parser.add_argument("baseline", type=Path, help="the baseline model bundle (may be empty)")
    parser.add_argument("recommendation", type=Path,
                        help="the drift stage's advice.json: its recommendation (for auto)")
    parser.add_argument("out", type=Path, help="folder for the candidate bundle")
    parser.add_argument("holdout", type=Path, help="prepare's holdout.parquet, to score")
    parser.add_argument("scores", type=Path, help="output: the candidate's score of each row")
    parser.add_argument("shuffled", type=Path, help="output: its scores of the holdout sample "
                        "with each feature shuffled (for permutation importance)")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)
    import pandas as pd

    from iterate.core import importance, training
    from iterate.repo import bundles, scores, streaming

    training.require_incremental(p.train.mode, training.build(p.model, p.contract), p.model)
    advice = json.loads(args.recommendation.read_text(encoding="utf-8"))["recommendation"]
    mode = training.resolve_mode(p.train.mode, advice)
    production = None
    if mode != "full" and bundles.exists(args.baseline):
        production = bundles.load(args.baseline)
    note = training.full_refit_note(mode, production.meta if production else None,
                                    streaming.count_rows(args.train))
    if note is not None:
        candidate = streaming.fit_file(args.train, note, p.model, p.contract,
                                      p.train.reference_rows)
    else:
        candidate = continue_production(args.train, p, production)
    bundles.save(candidate, args.out)
    holdout = pd.read_parquet(args.holdout)
    scores.write(args.scores, candidate.predict_proba(holdout))
    scores.write_shuffled(args.shuffled, importance.shuffled_scores(
        candidate.predict_proba, holdout, candidate.meta["features"], p.explain))
    auto = f" (auto: monitoring recommends {advice})" if p.train.mode == "auto" else ""
    print(f"train: {candidate.meta['kind']}, {candidate.meta['note']}{auto}")


def continue_production(path: Path, p: params.Params, production: Bundle) -> Bundle:
    """The incremental update (or the unchanged production model), with its reference sample."""
    import pandas as pd

    from iterate.core import training

    rows = pd.read_parquet(path)
    plan = training.plan(p.model, rows, production.meta)
    candidate = training.update(plan, p.model, p.contract, production)
    reference = training.reference_sample(rows, p.train.reference_rows, p.model.seed)
    candidate.reference = reference[[*p.contract.features, p.contract.label]].assign(
        score=candidate.predict_proba(reference))
    return candidate


if __name__ == "__main__":
    run(main)
