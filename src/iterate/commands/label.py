"""``iterate label``: outcomes that arrive later, joined to the prediction log and landed as a
batch through the data contract (``iterate land``'s checks and files)."""

from __future__ import annotations

import argparse
from pathlib import Path

from iterate.commands.deploy import locked
from iterate.commands.land import _say_landed, check_input_path


def add_parsers(sub) -> None:
    label = sub.add_parser("label", help="join a file of outcomes (prediction_id, label, "
                           "optional outcome time) to the prediction log and land it")
    label.add_argument("file", type=Path, help="CSV, CSV.gz or Parquet")
    label.set_defaults(func=cmd_label)


def cmd_label(args: argparse.Namespace) -> int:
    from iterate.repo import deploy, outcomes

    check_input_path(args.file)
    with locked(args, "label") as p:
        labelled = outcomes.label_file(args.file, p)
        _say_landed(labelled.batch.info, labelled.batch.warnings)
        deploy.record_landing()
    return 0
