"""gate: judge the evaluation by the rules in params and write the verdict with its reasons, and
its counts for `dvc metrics` (passed 1/0, rules, failed rules, breaking changes)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from iterate import params
from iterate.repo.jsonfile import write_json, write_metrics
from iterate.stages import run

PARAMS = ("gate",)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="gate", description=__doc__)
    parser.add_argument("evaluation", type=Path, help="evaluate's overall metrics JSON")
    parser.add_argument("slices", type=Path, help="evaluate's per-slice metrics JSON")
    parser.add_argument("candidate", type=Path, help="the candidate's model.json")
    parser.add_argument("production", type=Path, help="the production bundle (may be empty)")
    parser.add_argument("out", type=Path, help="output: the verdict JSON")
    parser.add_argument("numbers", type=Path, help="output: its counts (DVC metrics)")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)
    from iterate.core import compat, gate

    evaluation = json.loads(args.evaluation.read_text(encoding="utf-8"))
    slices = json.loads(args.slices.read_text(encoding="utf-8"))
    production = args.production / "model.json"
    changes = []
    if production.is_file():
        changes = compat.compare(json.loads(production.read_text(encoding="utf-8")),
                                 json.loads(args.candidate.read_text(encoding="utf-8")))
    verdict = gate.decide(evaluation, slices, p.gate, changes)
    write_json(args.out, {**verdict.to_dict(), "models": evaluation["models"],
                          "holdout": evaluation["holdout"],
                          "compatibility": [c.to_dict() for c in changes]})
    write_metrics(args.numbers, {"passed": int(verdict.promotable), "rules": len(verdict.rules),
                                 "failed": sum(not r.passed for r in verdict.rules),
                                 "breaking": len(compat.breaking(changes))})
    print(f"gate: {verdict.verdict}: {'; '.join(verdict.reasons)}")


if __name__ == "__main__":
    run(main)
