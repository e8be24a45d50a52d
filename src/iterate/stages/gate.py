"""gate: judge the evaluation by the rules in params and write the verdict with its reasons and
the baseline it was judged against (the production model as the iteration began: the only one
`iterate promote` then replaces), and its counts for `dvc metrics` (passed 1/0, rules, failed
rules, breaking changes)."""

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
    parser.add_argument("baseline", type=Path, help="the baseline bundle (may be empty)")
    parser.add_argument("out", type=Path, help="output: the verdict JSON")
    parser.add_argument("numbers", type=Path, help="output: its counts (DVC metrics)")
    parser.add_argument("evidence", type=Path, help="evaluate's paired evidence (.npz)")
    parser.add_argument("advice", type=Path, help="the drift stage's advice.json (its age)")
    args = parser.parse_args(argv)
    p = params.load(sections=PARAMS)
    from iterate.core import compat, explain, gate

    evaluation = json.loads(args.evaluation.read_text(encoding="utf-8"))
    slices = json.loads(args.slices.read_text(encoding="utf-8"))
    baseline = args.baseline / "model.json"
    release = args.baseline / "release.json"  # written at promotion: the version's number
    changes = []
    if baseline.is_file():
        changes = compat.compare(json.loads(baseline.read_text(encoding="utf-8")),
                                 json.loads(args.candidate.read_text(encoding="utf-8")))
    verdict = gate.decide(evaluation, slices, p.gate, changes)
    if evaluation["models"]["production"] is not None:
        age = json.loads(args.advice.read_text(encoding="utf-8")).get("age")
        verdict = gate.conclude(verdict, pooled(args.evidence, p.gate), p.gate, age)
    judged_against = {
        "version": json.loads(release.read_text(encoding="utf-8"))["version"]
        if release.is_file() else None,
        "sha256": evaluation["models"]["production"]}
    write_json(args.out, {**verdict.to_dict(), "models": evaluation["models"],
                          "baseline": judged_against, "holdout": evaluation["holdout"],
                          "compatibility": [c.to_dict() for c in changes],
                          "explain": explain.summary(evaluation)})
    write_metrics(args.numbers, {"passed": int(verdict.promotable), "rules": len(verdict.rules),
                                 "failed": sum(not r.passed for r in verdict.rules),
                                 "breaking": len(compat.breaking(changes))})
    print(f"gate: {verdict.verdict}: {'; '.join(verdict.reasons)}")
    for line in explain.lines(explain.summary(evaluation)):
        print(f"gate: {line}")


def pooled(path: Path, options):
    """The evidence pooled over its batches (:func:`iterate.core.sequential.pool`)."""
    import numpy as np

    from iterate.core import sequential

    with np.load(path, allow_pickle=False) as evidence:
        batch, y, c, p = (evidence[name] for name in ("batch", "label", "challenger",
                                                      "production"))
    looks = [(y[batch == b], c[batch == b], p[batch == b])
             for b in dict.fromkeys(batch.tolist())]
    return sequential.pool(looks, options.metric, options.alpha)


if __name__ == "__main__":
    run(main)
