"""iterate: the commands of the update loop (land a batch, dvc repro, gate, promote, monitor).

Run them from the repository's top folder. Each reads the params file once: params.yaml, or the
one --params names (before or after the command). `iterate COMMAND --help` tells a command's
options; `make run` runs `iterate loop`, the whole loop, on the embedded data.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from iterate import params as params_module
from iterate.commands import backtest, deploy, label, land, loop, predict, report, serve
from iterate.commands.helptext import plain
from iterate.errors import reported

BROKEN_PIPE = 128 + 13  # what a shell reports for a process that SIGPIPE ended


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = reported(lambda: args.func(args))
        sys.stdout.flush()  # a reader that went away shows here, not in the interpreter's exit
        return code
    except KeyboardInterrupt:
        print("interrupted; nothing half-written is left behind", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `iterate history | head -1`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iterate", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action=Version, help="print the installed version")
    parser.add_argument("--params", type=Path, default=params_module.DEFAULT_PATH,
                        metavar="FILE", help="params file (default: params.yaml)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")
    for group in (land, label, deploy, predict, report, backtest, loop, serve):
        group.add_parsers(sub)
    for action in sub._choices_actions:  # the listed commands: (name, help) pairs
        command = sub.choices[action.dest]
        summary = f"{action.help[:1].upper()}{action.help[1:]}."
        command.description = plain(command.description) or summary
        # SUPPRESS: `iterate --params X history` keeps X; `iterate history --params X` sets it
        command.add_argument("--params", type=Path, default=argparse.SUPPRESS,
                             metavar="FILE", help="params file (default: params.yaml)")
    return parser


class Version(argparse.Action):
    """``--version``, read from the installed package's metadata only when asked (reading it
    costs more than the rest of the parser)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, **kwargs):
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"iterate {version()}")
        parser.exit()


def version() -> str:
    """The installed package's version (its metadata), or a note when it is not installed."""
    from importlib import metadata

    try:
        return metadata.version("iterate")
    except metadata.PackageNotFoundError:
        return "(not installed: `pip install -e .`, or `make setup`)"


if __name__ == "__main__":
    sys.exit(main())
