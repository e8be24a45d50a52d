"""gate: judge the evaluation by the rules in params and write the verdict with its reasons."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from iterate import atomic, gate, params
from iterate.stages import run

PARAMS = ("gate",)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="gate", description=__doc__)
    parser.add_argument("evaluation", type=Path, help="evaluate's overall metrics JSON")
    parser.add_argument("slices", type=Path, help="evaluate's per-slice metrics JSON")
    parser.add_argument("out", type=Path, help="output: the verdict JSON")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)

    evaluation = json.loads(args.evaluation.read_text(encoding="utf-8"))
    slices = json.loads(args.slices.read_text(encoding="utf-8"))
    verdict = gate.decide(evaluation, slices, p.gate)
    report = {**verdict.to_dict(), "models": evaluation["models"],
              "holdout": evaluation["holdout"]}
    atomic.write_text(args.out, json.dumps(report, indent=2, allow_nan=False) + "\n")
    print(f"gate: {verdict.verdict}: {'; '.join(verdict.reasons)}")


if __name__ == "__main__":
    run(main)
