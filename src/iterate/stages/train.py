"""train: first judge production on the newest batch (drift, monitoring and the trigger: the
drift step, :mod:`iterate.stages.drift`), then, when the trigger says a candidate can pay, fit
it, fully on the training window (read in chunks) or incrementally from the baseline (the
production model as the iteration began), save it as a bundle, and score the holdout with it
(the scores the evaluate stage compares). One process for both steps: each would otherwise pay
for importing scikit-learn."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from iterate import params
from iterate.stages import drift, run

if TYPE_CHECKING:
    import pandas as pd

    from iterate.core.training import Bundle

PARAMS = ("model", "train", "contract", *drift.PARAMS)  # drift.PARAMS holds "compute"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="train", description=__doc__)
    parser.add_argument("train", type=Path, help="training rows (prepare's train.parquet)")
    parser.add_argument("holdout", type=Path, help="the newest batch (prepare's holdout)")
    parser.add_argument("baseline", type=Path, help="the baseline model bundle (may be empty)")
    parser.add_argument("challenger", type=Path, help="the pending challenger (may be empty)")
    drift.add_arguments(parser)
    parser.add_argument("--out", type=Path, required=True,
                        help="output: the folder of the candidate bundle")
    parser.add_argument("--scores", type=Path, required=True,
                        help="output: the candidate's score of each holdout row")
    parser.add_argument("--shuffled", type=Path, required=True, help="output: its scores of "
                        "the holdout sample with each feature shuffled")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)
    from iterate.core import training
    from iterate.repo import bundles, streaming

    built = training.build(p.model, p.contract)
    training.require_incremental(p.train.mode, built, p.model)
    training.require_streamable(p.train.fit, built, p.model)
    holdout = drift.judge_production(args, p)
    advised = json.loads(args.advice.read_text(encoding="utf-8"))
    advice, decision = advised["recommendation"], advised.get("trigger") or {"action": "train"}
    if decision["action"] != "train" and bundles.exists(args.baseline):
        kept = args.challenger if decision["action"] == "challenger" else args.baseline
        write_scores(judge_again(kept, args.out), holdout, args, p)
        print(f"train: no new candidate ({decision['reason']}); judging "
              f"{'the pending challenger' if kept == args.challenger else 'production'}")
        return
    mode = training.resolve_mode(p.train.mode, advice)
    production = None
    if mode != "full" and bundles.exists(args.baseline):
        production = bundles.load(args.baseline)
    note = training.full_refit_note(mode, production.meta if production else None,
                                    streaming.count_rows(args.train))
    if note is not None:
        rows = newest(args.train, decision.get("window"), args.out.parent / ".train.window.tmp")
        candidate = fit_full(rows, note, p)
        if rows != args.train:
            rows.unlink()
    else:
        candidate = continue_production(args.train, p, production)
    bundles.save(candidate, args.out)
    write_scores(candidate, holdout, args, p)
    auto = f" (auto: monitoring recommends {advice})" if p.train.mode == "auto" else ""
    print(f"train: {candidate.meta['kind']}, {candidate.meta['note']}{auto}")


def fit_full(rows: Path, note: str, p: params.Params) -> Bundle:
    """The full refit: on the cluster for a classifier that fits there (LightGBM) with
    ``compute.engine: dask``; else in this process, the classifier streamed by ``partial_fit``
    over the row groups (on the cluster with ``dask``) with ``train.fit: stream``
    (docs/scale.md#what-runs-where)."""
    from iterate.repo import streaming

    if p.compute.engine == "dask":
        from iterate.repo import distributed_fit

        if distributed_fit.fits_on_cluster(p.model, p.contract):
            return distributed_fit.fit_file(rows, note, p.model, p.contract,
                                            p.train.reference_rows, p.compute)
    streamed = streaming.streamed(rows, p.contract, p.train.epochs, p.compute) \
        if p.train.fit == "stream" else None  # docs/scale.md
    return streaming.fit_file(rows, note, p.model, p.contract, p.train.reference_rows,
                              fit_estimator=streamed)


def write_scores(candidate: Bundle, holdout: pd.DataFrame, args: argparse.Namespace,
                 p: params.Params) -> None:
    """The candidate's scores of the holdout, and of its sample with each feature shuffled."""
    from iterate.core import importance
    from iterate.repo import scores

    scores.write(args.scores, candidate.predict_proba(holdout))
    scores.write_shuffled(args.shuffled, importance.shuffled_scores(
        candidate.predict_proba, holdout, candidate.meta["features"], p.explain))


def judge_again(kept: Path, out: Path) -> Bundle:
    """The candidate is a model already there (the pending challenger, or production when
    nothing calls for a candidate): its bundle's files, copied as they are."""
    import shutil

    from iterate.repo import bundles

    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name in (bundles.MODEL_FILE, bundles.META_FILE, bundles.REFERENCE_FILE):
        if (kept / name).is_file():
            shutil.copyfile(kept / name, out / name)
    return bundles.load(out)


def newest(path: Path, window: int | None, tmp: Path) -> Path:
    """The training rows of the newest ``window`` batches only (a degradation alarm's
    candidate), in ``tmp``; all of them (``path``) without a window."""
    if not window:
        return path
    import pandas as pd

    rows = pd.read_parquet(path)
    keep = sorted(rows["batch_id"].unique())[-window:]
    rows[rows["batch_id"].isin(keep)].to_parquet(tmp, index=False)
    return tmp


def continue_production(path: Path, p: params.Params, production: Bundle) -> Bundle:
    """The incremental update (or the unchanged production model), with its reference sample."""
    import pandas as pd

    from iterate.core import training

    rows = pd.read_parquet(path)
    plan = training.plan(p.model, rows, production.meta)
    candidate = training.update(plan, p.model, p.contract, production)
    reference = training.reference_sample(rows, p.train.reference_rows, p.model.seed)
    return training.keep_reference(candidate, reference[[*p.contract.features, p.contract.label]],
                                   p.model)


if __name__ == "__main__":
    run(main)
