"""``iterate loop``: the main job. Land the next batch, ``dvc repro``, promote if the gate
allows, commit; N times. At the end, the PNG figures are drawn for people to look at."""

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
    rows = []
    for _ in range(iterations):
        row = _iteration(p, commit)
        if row is None:
            break
        rows.append(row)
    print()
    print(summary.table(rows))
    if rows and MONITOR.is_file():
        print()
        print(summary.monitoring(read_json(MONITOR, "the drift stage did not write it")))
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
    from iterate.core import summary
    from iterate.repo import atomic, deploy, store, vcs

    with atomic.repo_lock(what="loop"):
        recover(p)
        first = not store.list_batches(RAW)
        landed = replay_batches(p, count=p.replay.warmup_batches if first else 1)
        if not landed:
            print(f"loop: every batch of {p.replay.source} has landed; nothing more to replay")
            return None
        vcs.dvc("add", "--quiet", str(RAW))
    vcs.dvc("repro")
    verdict = read_json(GATE, "the gate stage did not write it")
    evaluation = read_json(EVALUATION, "the evaluate stage did not write it")
    version = None
    if verdict["promotable"]:
        with atomic.repo_lock(what="promote"):
            recover(p)
            version = deploy.promote(p, force=False, reason=None)["version"]
    number = len(store.list_batches(RAW))
    row = summary.iteration_row(landed[-1], number, evaluation, verdict, version)
    if commit:
        vcs.git_commit(summary.commit_message(row), COMMITTED)
        if version and p.registry.tag:
            deploy.tag(p, deploy.read_registry()[-1])
    return row
