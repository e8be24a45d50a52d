"""``iterate``: the commands of the update loop.

    iterate land FILE...            land new batches (checked against the data contract)
    iterate replay --next           land the next batch cut from the embedded source
    iterate replay --through DATE   land every source batch up to DATE
    iterate gate --check            print the gate's verdict; exit 1 when it rejects
    iterate promote                 make the candidate the production model
    iterate rollback VERSION        bring an earlier version back into production
    iterate history [--json]        every version promoted or rolled back to
    iterate predict IN -o OUT       score a file with the production model
    iterate monitor                 drift of the prediction log against the training reference
    iterate report [--base REV]     markdown for a pull request: verdict, metrics, diffs, plots
    iterate loop                    the main job: replay, dvc repro, promote, commit; N times
    iterate backtest                replay the history under five update policies, compare them

Each command runs from the repository's top folder and reads params.yaml once.
"""

from __future__ import annotations

import argparse
import functools
import json
import sys
from pathlib import Path

from iterate import backtesting, review
from iterate import params as params_module
from iterate.errors import IterateError, reported
from iterate.jsonfile import read_json
from iterate.layout import (
    COMMITTED,
    EVALUATION,
    GATE,
    MONITOR,
    PREDICTION_DRIFT,
    QUARANTINE,
    RAW,
    ensure_production_folder,
)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return reported(lambda: args.func(args))
    except KeyboardInterrupt:
        print("interrupted; nothing half-written is left behind", file=sys.stderr)
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iterate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", type=Path, default=params_module.DEFAULT_PATH,
                        help="params file (default: params.yaml)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    land = sub.add_parser("land", help="land batch files (CSV, CSV.gz or Parquet)")
    land.add_argument("files", nargs="+", type=Path)
    land.set_defaults(func=cmd_land)

    replay = sub.add_parser("replay", help="land batches cut from the embedded source")
    which = replay.add_mutually_exclusive_group(required=True)
    which.add_argument("--next", action="store_true", help="land the next batch")
    which.add_argument("--through", metavar="YYYY-MM-DD", help="land every batch up to this date")
    replay.set_defaults(func=cmd_replay)

    gate = sub.add_parser("gate", help="show the gate's verdict (metrics/gate.json)")
    gate.add_argument("--check", action="store_true", help="exit 1 when the verdict is reject")
    gate.set_defaults(func=cmd_gate)

    promote = sub.add_parser("promote", help="make the candidate the production model")
    promote.add_argument("--force", action="store_true", help="promote despite the gate")
    promote.add_argument("--reason", help="why (required with --force)")
    promote.add_argument("--tag", action="store_true",
                         help="commit the promotion and create GTO tags (or registry.tag: true)")
    promote.set_defaults(func=cmd_promote)

    rollback = sub.add_parser("rollback", help="bring an earlier version back into production")
    rollback.add_argument("version", help="e.g. 1.0.2 or v1.0.2 (see `iterate history`)")
    rollback.add_argument("--reason", required=True, help="why (recorded in the registry)")
    rollback.add_argument("--tag", action="store_true",
                          help="commit the rollback and create a GTO tag (or registry.tag: true)")
    rollback.set_defaults(func=cmd_rollback)

    history = sub.add_parser("history", help="the versions in models/registry.yaml")
    history.add_argument("--json", action="store_true", help="print the entries as JSON")
    history.set_defaults(func=cmd_history)

    predict = sub.add_parser("predict", help="score a CSV or Parquet file with production")
    predict.add_argument("input", type=Path)
    predict.add_argument("-o", "--output", type=Path, required=True, help="CSV to write")
    predict.set_defaults(func=cmd_predict)

    monitor = sub.add_parser("monitor", help="drift of the prediction log against production's "
                             "training reference")
    monitor.add_argument("-o", "--output", type=Path, default=PREDICTION_DRIFT,
                         help=f"JSON to write (default: {PREDICTION_DRIFT})")
    monitor.set_defaults(func=cmd_monitor)

    review.add_parser(sub)
    backtesting.add_parser(sub)

    loop = sub.add_parser("loop", help="replay batches, dvc repro, promote and commit, N times")
    loop.add_argument("--iterations", type=int, help="default: replay.iterations in params")
    loop.set_defaults(func=cmd_loop)

    warm = sub.add_parser("warm", help="keep the stages' libraries loaded so `dvc repro` in "
                          "this repository starts its stages warm (Ctrl-C stops it)")
    warm.add_argument("--idle", type=float, default=600.0,
                      help="stop after this many seconds without a stage run (default 600)")
    warm.set_defaults(func=cmd_warm)
    return parser


# ---------------------------------------------------------------- land and replay


def cmd_land(args: argparse.Namespace) -> int:
    from iterate import atomic, landing, store, vcs

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    ensure_production_folder()
    with atomic.repo_lock(what="land"):
        _recover(p)
        for path in args.files:
            _check_input_path(path)
        landed = store.list_batches(RAW)
        checked = []  # every file is checked before any is written: all land, or none
        for path in args.files:
            batch = landing.check(landing.read_table(path), p.contract,
                                  landed + [c.info for c in checked],
                                  sha256=landing.file_sha256(path), source=str(path), raw_dir=RAW)
            checked.append(batch)
        for batch in checked:
            _say_landed(landing.write(batch, RAW, QUARANTINE))
        vcs.dvc("add", "--quiet", str(RAW))
    return 0


def _check_input_path(path: Path) -> None:
    if not path.exists():
        raise IterateError(f"{path}: no such file")
    if not path.is_file():
        raise IterateError(f"{path}: not a regular file; give the path of a CSV or Parquet file")


def _say_landed(info) -> None:
    quarantined = (f", {info.quarantined} bad rows -> {QUARANTINE / (info.id + '.csv')}"
                   if info.quarantined else "")
    print(f"landed {info.id}: {info.rows} rows ({info.start} .. {info.end}) -> "
          f"{RAW / (info.id + '.parquet')}{quarantined}")


def replay_batches(p, count: int | None = None, through: str | None = None) -> list:
    """Land up to ``count`` source batches (or every one up to ``through``); return their infos."""
    import pandas as pd

    from iterate import landing, replay, store

    ensure_production_folder()
    source = Path(p.replay.source)
    if not source.is_file():
        raise IterateError(f"replay.source: {source} not found; restore it with `git checkout "
                           f"-- {source}` or point replay.source in params.yaml at your data")
    landed = store.list_batches(RAW)
    frame = pd.read_csv(source, dtype=str, keep_default_na=False, na_values=[""])
    todo = replay.pending(frame, p.contract.time_column, p.replay.batch_days,
                          after=landed[-1].end if landed else None, through=through)
    infos = []
    for batch in todo[:count] if count is not None else todo:
        info = landing.land(batch, p.contract, RAW, QUARANTINE,
                            sha256=replay.content_sha256(batch),
                            source=f"{source.name}")
        _say_landed(info)
        infos.append(info)
    return infos


def cmd_replay(args: argparse.Namespace) -> int:
    from iterate import atomic, vcs

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    with atomic.repo_lock(what="replay"):
        _recover(p)
        infos = replay_batches(p, count=1 if args.next else None, through=args.through)
        if not infos:
            print(f"replay: every batch of {p.replay.source} has landed already")
            return 0
        vcs.dvc("add", "--quiet", str(RAW))
    return 0


# ---------------------------------------------------------------- gate and promote


def cmd_gate(args: argparse.Namespace) -> int:
    verdict = read_json(GATE, "run `dvc repro` first")
    print(f"gate: {verdict['verdict']}")
    for reason in verdict["reasons"]:
        print(f"  - {reason}")
    return 1 if args.check and verdict["verdict"] == "reject" else 0


def cmd_promote(args: argparse.Namespace) -> int:
    from iterate import atomic, deploy, vcs

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    with atomic.repo_lock(what="promote"):
        _recover(p)
        entry = deploy.promote(p, force=args.force, reason=args.reason)
        print(f"promoted {p.registry.name} v{entry['version']} ({entry['reason']})")
        _commit_and_tag(p, entry, args.tag, f"promote {p.registry.name} v{entry['version']}")
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    from iterate import atomic, deploy, vcs

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    with atomic.repo_lock(what="rollback"):
        _recover(p)
        entry = deploy.rollback(p, args.version, reason=args.reason)
        print(f"rolled back {p.registry.name} to v{entry['version']} (was v{entry['replaced']})")
        _commit_and_tag(p, entry, args.tag,
                        f"roll back {p.registry.name} to v{entry['version']}: {args.reason}")
    return 0


def _recover(p) -> None:
    """Finish (or drop) a promote or rollback that was interrupted, and clear what a killed
    landing left behind, before doing anything."""
    from iterate import atomic, deploy, vcs

    for folder in (RAW, QUARANTINE):
        atomic.remove_stale_temporaries(folder)
    if _raw_untracked():
        vcs.dvc("add", "--quiet", str(RAW))
        print(f"recovered: {RAW}.dvc now records every landed batch", file=sys.stderr)
    done = deploy.recover(p)
    if done:
        print(f"recovered: {done}", file=sys.stderr)


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
    from iterate import deploy, vcs

    if not (asked or p.registry.tag):
        return
    if not vcs.in_git_repo():
        raise IterateError("--tag needs a git repository; the change itself is done")
    vcs.git_commit(message, COMMITTED)
    print(f"tagged {', '.join(deploy.tag(p, entry))}")


def cmd_history(args: argparse.Namespace) -> int:
    from iterate import atomic, changelog, deploy

    with atomic.repo_lock(what="history"):
        _recover(params_module.load(args.params))
    entries = deploy.read_registry()
    if args.json:
        print(json.dumps(entries, indent=2))
    elif not entries:
        print("no version yet: run `make run`, or `dvc repro` then `iterate promote`")
    else:
        print(changelog.history_table(entries))
    return 0


def cmd_monitor(args: argparse.Namespace) -> int:
    from iterate import predict
    from iterate.jsonfile import write_json

    p = params_module.load(args.params)
    result = predict.prediction_drift(p)
    write_json(args.output, result)
    drifted = result["drifted_columns"]
    print(f"monitor: {result['rows']} rows scored by v{result['version']} "
          f"({result['logs']} log files): {len(drifted)} of {result['n_tested']} columns drift "
          f"({', '.join(drifted) or 'none'}); recommendation {result['recommendation']} "
          f"-> {args.output}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from iterate import atomic, predict

    _check_input_path(args.input)
    p = params_module.load(args.params)
    with atomic.repo_lock(what="predict"):
        _recover(p)
        version, rows = predict.predict(args.input, args.output)
    print(f"scored {rows} rows with v{version} -> {args.output}")
    return 0


# ---------------------------------------------------------------- the main job


def cmd_loop(args: argparse.Namespace) -> int:
    from iterate import summary, vcs, warmserver

    vcs.require_dvc_repo()
    p = params_module.load(args.params)
    iterations = args.iterations if args.iterations is not None else p.replay.iterations
    if iterations < 1:
        raise IterateError("--iterations must be >= 1")
    commit = p.replay.commit and vcs.in_git_repo()
    rows = []
    with warmserver.Server() as server:
        for _ in range(iterations):
            server.ensure()  # restarted if a code change made it stop
            row = _iteration(p, commit)
            if row is None:
                break
            rows.append(row)
    print()
    print(summary.table(rows))
    if rows and MONITOR.is_file():
        print()
        print(summary.monitoring(read_json(MONITOR, "the drift stage did not write it")))
    if not commit:
        print("\n(not committed: replay.commit is false or this is not a git repository)")
    return 0


def _iteration(p: params_module.Params, commit: bool) -> dict | None:
    """One loop iteration: land the next batch, reproduce, promote if the gate allows, commit.
    Returns its summary row, or None when every source batch has landed."""
    from iterate import atomic, deploy, store, summary, vcs

    with atomic.repo_lock(what="loop"):
        _recover(p)
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
            _recover(p)
            version = deploy.promote(p, force=False, reason=None)["version"]
    number = len(store.list_batches(RAW))
    row = summary.iteration_row(landed[-1], number, evaluation, verdict, version)
    if commit:
        vcs.git_commit(summary.commit_message(row), COMMITTED)
        if version and p.registry.tag:
            deploy.tag(p, deploy.read_registry()[-1])
    return row


def cmd_warm(args: argparse.Namespace) -> int:
    from iterate import vcs, warm, warmserver

    vcs.require_dvc_repo()
    if not warm.SUPPORTED:
        raise IterateError("iterate warm needs Linux (abstract Unix sockets and pidfd); stages "
                           "run cold here, which is only slower")
    announce = functools.partial(
        print, f"iterate warm: serving stage runs for {Path.cwd()} (stops after {args.idle:g} s "
        "idle; Ctrl-C stops it and the stage it runs)", flush=True)
    if not warmserver.serve(".", idle=args.idle, announce=announce):
        raise IterateError("a warm server already serves this repository (`iterate loop` runs "
                           "one); nothing to do")
    return 0

if __name__ == "__main__":
    sys.exit(main())
