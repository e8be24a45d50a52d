"""``iterate predict`` and ``iterate monitor``: score a file with production, and the drift of
what was scored."""

from __future__ import annotations

import argparse
from pathlib import Path

from iterate import params as params_module
from iterate.commands.deploy import recover
from iterate.commands.land import check_input_path
from iterate.repo.layout import (
    PREDICTION_DRIFT,
)


def add_parsers(sub) -> None:
    predict = sub.add_parser("predict", help="score a CSV or Parquet file (or a folder of "
                             "Parquet parts) with production")
    predict.add_argument("input", type=Path)
    predict.add_argument("-o", "--output", type=Path, required=True, help="CSV to write (with "
                         "compute.engine: dask, a folder of CSV parts)")
    predict.set_defaults(func=cmd_predict)

    monitor = sub.add_parser("monitor", help="drift of the prediction log against production's "
                             "training reference, and each served version's realised "
                             "performance once labels landed")
    monitor.add_argument("-o", "--output", type=Path, default=PREDICTION_DRIFT,
                         help=f"JSON to write (default: {PREDICTION_DRIFT})")
    monitor.set_defaults(func=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    from iterate.repo import atomic, outcomes, performance_estimate, scoring
    from iterate.repo.jsonfile import write_json

    atomic.user_output(args.output, "monitor")
    p = params_module.load(args.params)
    result = scoring.prediction_drift(p)
    result["realised"] = outcomes.realised(p)
    result["estimated"] = performance_estimate.estimated(p)
    write_json(args.output, result)
    if not result["logs"]:
        print(f"monitor: drift not judged: {result['reason']} -> {args.output}")
    else:
        drifted = result["drifted_columns"]
        print(f"monitor: {result['rows']} rows scored by v{result['version']} "
              f"({result['logs']} log files): {len(drifted)} of {result['n_tested']} columns "
              f"drift ({', '.join(drifted) or 'none'}); recommendation "
              f"{result['recommendation']} -> {args.output}")
    say_realised(result["realised"])
    print(f"monitor: {performance_estimate.summary(result['estimated'])} (before labels, "
          f"{p.estimate.confidence:.0%} intervals)")
    return 0


def say_realised(realised: dict) -> None:
    """The realised performance of each served version (labels landed), a row per period."""
    from iterate.core import report, tables

    if not realised["versions"]:
        print("realised: no labels have landed yet (`iterate label FILE` lands them)")
        return
    print(f"realised performance of {realised['labelled']} labelled predictions, per "
          f"{realised['bucket']} of scoring:")
    print(tables.text(report.realised_header(realised), report.realised_rows(realised),
                      right=(2,)))


def cmd_predict(args: argparse.Namespace) -> int:
    from iterate.repo import atomic, scoring

    check_input_path(args.input)
    atomic.user_output(args.output, "predict")
    p = params_module.load(args.params)
    with atomic.repo_lock(what="predict", swaps=False):
        recover(p)
        version, rows = scoring.predict(args.input, args.output, p.predict.chunk_rows,
                                        scoring.logged_context(p.contract), p.compute)
    print(f"scored {rows} rows with v{version} -> {args.output}")
    return 0
