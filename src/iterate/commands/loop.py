"""``iterate loop``: the main job. Land the next batch (pinning the baseline), ``dvc repro``,
promote if the gate allows, commit the files it wrote and nothing else; N times. At the end,
the PNG figures are drawn for people to look at."""

from __future__ import annotations

import argparse
from pathlib import Path

from iterate import params as params_module
from iterate.commands.deploy import recover
from iterate.commands.land import replay_batches
from iterate.errors import IterateError
from iterate.repo.jsonfile import read_json
from iterate.repo.layout import (
    COMMITTED,
    EVALUATION,
    FIGURES,
    GATE,
    MONITOR,
    RAW,
)


def add_parsers(sub) -> None:
    loop = sub.add_parser("loop", help="replay batches, dvc repro, promote and commit, N times")
    loop.add_argument("--iterations", type=int, help="default: replay.iterations in params")
    loop.set_defaults(func=cmd_loop)


def cmd_loop(args: argparse.Namespace) -> int:
    from iterate.core import summary
    from iterate.repo import vcs

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    iterations = args.iterations if args.iterations is not None else p.replay.iterations
    if iterations < 1:
        raise IterateError("--iterations must be >= 1")
    commit = p.replay.commit and vcs.in_git_repo()
    if commit:
        require_only_own_changes()
    resumed = _resume(p, commit)
    rows = [resumed] if resumed else []
    for _ in range(iterations - len(rows)):
        row = _iteration(p, commit)
        if row is None:
            break
        rows.append(row)
    print()
    print(summary.table(rows))
    if rows and MONITOR.is_file():
        print()
        print(summary.monitoring(read_json(MONITOR, "the train stage did not write it")))
    if rows:
        draw_figures(args.params)
    if not commit:
        print("\n(not committed: replay.commit is false or this is not a git repository)")
    return 0


def draw_figures(params_file: Path) -> None:
    """Draw the PNGs of the last iteration into the git-ignored FIGURES folder, and say where."""
    from iterate.repo import figures

    drawn = [str(path) for path in figures.draw(FIGURES, params_file).values()
             if not isinstance(path, str)]
    if drawn:
        print(f"\nfigures: {', '.join(drawn)}")


def _iteration(p: params_module.Params, commit: bool) -> dict | None:
    """One loop iteration: land the next batch, reproduce, promote if the gate allows, commit.
    Returns its summary row, or None when every source batch has landed."""
    from iterate.repo import atomic, deploy, store

    with atomic.repo_lock(what="loop"):
        recover(p)
        first = not store.list_batches(RAW)
        if p.labels.replay and not first:  # production traffic, labelled later
            landed = labelled_replay(p)
        else:
            landed = replay_batches(p, count=p.replay.warmup_batches if first else 1)
        if not landed:
            print(f"loop: every batch of {p.replay.source} has landed; nothing more to replay")
            return None
        deploy.record_landing()
    return _judge(p, commit, landed[-1])


def labelled_replay(p: params_module.Params) -> list:
    """The next batch as production traffic labelled later (``labels.replay``): source batches
    scored by production, the oldest one's labels joined to the prediction log and landed."""
    from iterate.commands.land import _say_landed, read_source
    from iterate.repo import traffic

    source, frame = read_source(p)
    info = traffic.next_batch(p, frame, source.name)
    if info is None:
        return []
    _say_landed(info)
    return [info]


def _judge(p: params_module.Params, commit: bool, batch, reproduce: bool = True) -> dict:
    """The rest of an iteration once ``batch`` has landed: reproduce (unless it was judged
    already), promote if the gate allows (unless that candidate is production already),
    commit. Returns its summary row."""
    from iterate.core import summary
    from iterate.repo import atomic, deploy, registry, store, vcs

    if reproduce:
        vcs.dvc("repro")
    verdict = read_json(GATE, "the evaluate stage did not write it")
    evaluation = read_json(EVALUATION, "the evaluate stage did not write it")
    version = None
    if verdict["promotable"]:
        with atomic.repo_lock(what="promote"):
            recover(p)
            if _promotion_due():
                version = deploy.promote(p, force=False, reason=None)["version"]
            else:  # promoted by a run killed before its commit
                version = registry.current(deploy.read_registry())["version"]
    number = len(store.list_batches(RAW))
    row = summary.iteration_row(batch, number, evaluation, verdict, version)
    if commit:
        vcs.git_commit(summary.commit_message(row), COMMITTED)
        if version and p.registry.tag:
            deploy.tag(p, deploy.read_registry()[-1])
    return row


def _resume(p: params_module.Params, commit: bool) -> dict | None:
    """Finish the iteration a killed loop left, before anything new lands: its batch landed
    but was not judged, promoted as the gate allowed, or committed. Returns that iteration's
    summary row, or None when the last iteration finished."""
    from iterate.core.batches import in_order
    from iterate.repo import atomic, store, vcs

    with atomic.repo_lock(what="loop"):
        recover(p)  # also records a batch whose landing was killed before `dvc add`
        landed = in_order(store.list_batches(RAW))
    if len(landed) < p.replay.warmup_batches:
        return None  # a first iteration killed while landing: the next one lands more
    judged = _judged(landed[-1])
    if commit:
        finished = not vcs.git_changed(RAW.with_suffix(".dvc"))  # every landed batch committed
    else:
        finished = judged and not _promotion_due()
    if finished:
        return None
    print(f"loop: batch {landed[-1].id} landed but its iteration did not finish; finishing it "
          "first")
    return _judge(p, commit, landed[-1], reproduce=not judged)


def _judged(batch) -> bool:
    """Whether the gate's verdict is about the evaluation of ``batch`` (then `dvc repro` has
    nothing left to do for it)."""
    if not (GATE.is_file() and EVALUATION.is_file()):
        return False
    evaluation = read_json(EVALUATION, "the evaluate stage did not write it")
    verdict = read_json(GATE, "the evaluate stage did not write it")
    return (evaluation.get("holdout") or {}).get("batch") == batch.id and \
        verdict.get("models") == evaluation.get("models")


def _promotion_due() -> bool:
    """Whether the gate allows a promotion that has not been made."""
    from iterate.repo import deploy, registry

    if not read_json(GATE, "the evaluate stage did not write it").get("promotable"):
        return False
    current = registry.current(deploy.read_registry())
    candidate = read_json(EVALUATION, "the evaluate stage did not write it")["models"]
    return not current or current["model_sha256"] != candidate["candidate"]


def require_only_own_changes() -> None:
    """Refuse to start while git sees changes the loop does not own (an edited params.yaml, a
    new file): its commits would sweep them in, or leave them out of what was reproduced.
    Batch files in data/raw are the loop's (DVC's): a landing killed before `dvc add` leaves
    them unignored, and the resumed iteration records them."""
    from iterate.repo import vcs

    foreign = vcs.git_foreign_changes([*COMMITTED, str(RAW)])
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3
                                          else "")
        raise IterateError(f"loop: changes that are not the loop's: {shown}; commit them, or "
                           "set them aside with `git stash -u`, then run the loop again")
