"""``iterate``: the commands of the update loop.

    iterate land FILE...            land new batches (checked against the data contract)
    iterate replay --next           land the next batch cut from the embedded source
    iterate replay --through DATE   land every source batch up to DATE
    iterate baseline                pin models/baseline to production now (landings do it)
    iterate gate --check            print the gate's verdict; exit 1 when it rejects
    iterate promote                 make the candidate the production model
    iterate rollback VERSION        bring an earlier version back into production
    iterate history [--json]        every version promoted or rolled back to
    iterate recover [--abandon]     finish (or drop) an interrupted promote or rollback
    iterate predict IN -o OUT       score a file with the production model
    iterate monitor                 drift of the prediction log against the training reference
    iterate report [--base REV]     markdown for a pull request: verdict, metrics, diffs, plots
    iterate loop                    the main job: replay, dvc repro, promote, commit; N times
    iterate backtest                replay the history under five update policies, compare them

Each command runs from the repository's top folder and reads params.yaml once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from iterate import params as params_module
from iterate.commands import backtest, deploy, land, loop, predict, report
from iterate.errors import reported


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

    for group in (land, deploy, predict, report, backtest, loop):
        group.add_parsers(sub)
    return parser


if __name__ == "__main__":
    sys.exit(main())
