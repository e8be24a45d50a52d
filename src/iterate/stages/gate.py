"""The evaluate stage's last step, the gate: judge the evaluation by the rules in params and
write the verdict with its reasons and the baseline it was judged against (the production model
as the iteration began: the only one `iterate promote` then replaces), and its counts for
`dvc metrics` (passed 1/0, rules, failed rules, breaking changes)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from iterate import params
from iterate.repo.jsonfile import write_json, write_metrics

PARAMS = ("gate",)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The step's own paths, as options of the evaluate stage (it reads the stage's outputs)."""
    parser.add_argument("--advice", type=Path, required=True,
                        help="the train stage's advice.json (production's age)")
    parser.add_argument("--verdict", type=Path, required=True, help="output: the verdict JSON")
    parser.add_argument("--gate-numbers", type=Path, required=True,
                        help="output: its counts (DVC metrics)")


def judge(args: argparse.Namespace, p: params.Params) -> None:
    """Judge the evaluation the stage wrote (``args.metrics``, ``args.slices``, the evidence)."""
    from iterate.core import compat, explain, gate

    evaluation = json.loads(args.metrics.read_text(encoding="utf-8"))
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
    write_json(args.verdict, {**verdict.to_dict(), "models": evaluation["models"],
                          "baseline": judged_against, "holdout": evaluation["holdout"],
                          "compatibility": [c.to_dict() for c in changes],
                          "explain": explain.summary(evaluation)})
    write_metrics(args.gate_numbers, {
        "passed": int(verdict.promotable), "rules": len(verdict.rules),
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

