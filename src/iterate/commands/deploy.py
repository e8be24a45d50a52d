"""``iterate gate``, ``promote``, ``rollback`` and ``history``: deploy a model and record it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from iterate import params as params_module
from iterate.errors import IterateError
from iterate.repo.jsonfile import read_json
from iterate.repo.layout import (
    COMMITTED,
    GATE,
    PIPELINE_INPUTS,
    QUARANTINE,
    RAW,
)


def add_parsers(sub) -> None:
    gate = sub.add_parser("gate", help="show the gate's verdict (metrics/gate.json)")
    gate.add_argument("--check", action="store_true", help="exit 1 when the verdict is reject")
    gate.set_defaults(func=cmd_gate)

    promote = sub.add_parser("promote", help="make the candidate the production model")
    promote.add_argument("--force", action="store_true", help="promote despite the gate")
    promote.add_argument("--reason", help="why (required with --force)")
    promote.add_argument("--tag", action="store_true",
                         help="commit the promotion and create GTO tags (in git, "
                              "registry.tag does it)")
    promote.set_defaults(func=cmd_promote)

    rollback = sub.add_parser("rollback", help="bring an earlier version back into production")
    rollback.add_argument("version", help="e.g. 1.0.2 or v1.0.2 (see `iterate history`)")
    rollback.add_argument("--reason", required=True, help="why (recorded in the registry)")
    rollback.add_argument("--tag", action="store_true",
                          help="commit the rollback and create a GTO tag (in git, "
                               "registry.tag does it)")
    rollback.set_defaults(func=cmd_rollback)

    recover_cmd = sub.add_parser("recover", help="finish an interrupted promote or rollback "
                                 "(every command does this first), or --abandon it")
    recover_cmd.add_argument("--abandon", action="store_true",
                             help="drop a change that cannot be finished and put back the "
                                  "version models/registry.yaml names")
    recover_cmd.set_defaults(func=cmd_recover)

    history = sub.add_parser("history", help="the versions in models/registry.yaml")
    history.add_argument("--json", action="store_true", help="print the entries as JSON")
    history.set_defaults(func=cmd_history)


def cmd_gate(args: argparse.Namespace) -> int:
    warn_if_pending()
    verdict = read_json(GATE, "run `dvc repro` first")
    print(f"gate: {verdict['verdict']}")
    for reason in verdict["reasons"]:
        print(f"  - {reason}")
    from iterate.core import explain

    for line in explain.lines(verdict.get("explain")):
        print(f"  {line}")
    return 1 if args.check and verdict["verdict"] == "reject" else 0


@contextmanager
def locked(args: argparse.Namespace, what: str) -> Iterator[params_module.Params]:
    """The params, under the repository lock, once what a killed command left is recovered:
    how every command that writes the repository begins."""
    from iterate.repo import atomic, vcs

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    with atomic.repo_lock(what=what):
        recover(p)
        yield p


def cmd_promote(args: argparse.Namespace) -> int:
    from iterate.repo import deploy

    with locked(args, "promote") as p:
        entry = deploy.promote(p, force=args.force, reason=args.reason)
        print(f"promoted {p.registry.name} v{entry['version']} ({entry['reason']})")
        _commit_and_tag(p, entry, args.tag, f"promote {p.registry.name} v{entry['version']}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from iterate.repo import deploy

    with locked(args, "rollback") as p:
        entry = deploy.rollback(p, args.version, reason=args.reason)
        print(f"rolled back {p.registry.name} to v{entry['version']} (was v{entry['replaced']})")
        _commit_and_tag(p, entry, args.tag,
                        f"roll back {p.registry.name} to v{entry['version']}: {args.reason}")
    return 0


def recover(p) -> None:
    """Finish (or drop) a promote or rollback that was interrupted, and clear what a killed
    landing left behind, before doing anything."""
    from iterate.repo import atomic, deploy

    for folder in (RAW, QUARANTINE):
        atomic.remove_stale_temporaries(folder)
    done = deploy.recover(p)
    if done:
        print(f"recovered: {done}", file=sys.stderr)
    if _raw_untracked():  # a killed landing: pin its baseline (production is unchanged since)
        deploy.record_landing()
        print(f"recovered: {RAW}.dvc now records every landed batch", file=sys.stderr)


def cmd_recover(args: argparse.Namespace) -> int:
    from iterate.repo import atomic, deploy, vcs

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    with atomic.repo_lock(what="recover"):
        if args.abandon:
            print(f"recover: {deploy.abandon(p)}")
            return 0
        done = deploy.recover(p)
    print(f"recover: {done or 'nothing was interrupted'}")
    return 0


def warn_if_pending() -> None:
    """Read-only commands go on while a journal waits; they say so."""
    from iterate.repo import deploy

    warning = deploy.pending_journal()
    if warning:
        print(warning, file=sys.stderr)


def _raw_untracked() -> bool:
    """A landing killed after writing its batch but before `dvc add`: data/raw holds more
    batches than data/raw.dvc records (landing only ever adds files)."""
    import yaml

    dvc_file = RAW.with_suffix(".dvc")
    landed = len(list(RAW.glob("*.parquet"))) if RAW.is_dir() else 0
    if not dvc_file.is_file():
        return landed > 0
    recorded = yaml.safe_load(dvc_file.read_text(encoding="utf-8"))["outs"][0].get("nfiles", 0)
    return landed > recorded  # fewer: a clone that has not pulled yet, not a crash


def _commit_and_tag(p, entry: dict, asked: bool, message: str) -> None:
    from iterate.repo import deploy, vcs

    if not (asked or (p.registry.tag and vcs.in_git_repo())):
        return  # registry.tag outside git: nothing to tag, and nothing is wrong
    if not vcs.in_git_repo():
        raise IterateError("--tag needs a git repository; the change itself is done")
    vcs.git_commit(message, COMMITTED + PIPELINE_INPUTS)  # what the released model was built by
    print(f"tagged {', '.join(deploy.tag(p, entry))}")


def cmd_history(args: argparse.Namespace) -> int:
    from iterate.core import changelog
    from iterate.repo import atomic, deploy

    with atomic.repo_lock(what="history", swaps=False):
        try:
            recover(params_module.load(args.params))
        except deploy.JournalError as exc:
            print(f"warning: {exc}", file=sys.stderr)
    entries = deploy.read_registry()
    if args.json:
        print(json.dumps(entries, indent=2))
    elif not entries:
        print("no version yet: run `make run`, or `dvc repro` then `iterate promote`")
    else:
        print(changelog.history_table(entries))
    return 0
