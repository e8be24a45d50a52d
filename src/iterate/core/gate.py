"""The gate: turn the paired comparison into a verdict with its reasons.

Every rule is judged on the pessimistic end of the 95% CI of the candidate's improvement
(``Δ`` for metrics where higher is better, ``-Δ`` for losses):

- non-inferiority: the improvement's CI low end must be ``>= -margin`` (a regression of at most
  ``margin`` is tolerated, and only when the data shows it is no worse than that);
- required improvement (optional): the CI low end must be ``>= min_improvement``;
- gaps between groups (optional, ``max_gap_increase``): the CI high end of how much the
  candidate widens each rule metric's gap must be ``<= max_gap_increase``
  (:func:`iterate.core.explain.gap_rules`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from iterate.core import explain
from iterate.core.compat import Change, breaking
from iterate.core.metrics import HIGHER_IS_BETTER
from iterate.params import Gate

PROMOTE, REJECT, NO_BASELINE, IS_PRODUCTION, SKIP = ("promote", "reject", "no_baseline",
                                                    "is_production", "skip")
PENDING = "pending"  # one holdout cannot decide: the candidate stays as the challenger
PROMOTABLE = (PROMOTE, NO_BASELINE)


@dataclass(frozen=True)
class RuleResult:
    rule: str  # "non_inferiority" | "min_improvement" | "max_gap_increase"
    metric: str
    scope: str  # "overall" or "<slice column>=<value>"
    improvement: float | None
    improvement_ci: list[float] | None
    threshold: float
    passed: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    verdict: str
    promotable: bool
    reasons: list[str]
    rules: list[RuleResult] = field(default_factory=list)

    evidence: dict[str, Any] | None = None  # the pooled evidence (iterate.core.sequential)

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "promotable": self.promotable,
                "passed": int(self.promotable), "reasons": self.reasons,
                "rules": [asdict(r) for r in self.rules], "evidence": self.evidence}


def decide(evaluation: dict[str, Any], slices: dict[str, Any], gate: Gate,
           changes: list[Change] | None = None) -> Verdict:
    """Judge ``evaluation`` (overall metrics) and ``slices`` (per-slice metrics) by ``gate``.

    Both come from the evaluate stage: ``metrics`` maps a metric name to ``delta`` and
    ``delta_low``/``delta_high``; ``slices["values"]`` maps a slice value to such a mapping
    (or None when the slice has too few rows). ``changes`` are the compatibility differences
    from production to candidate (:mod:`iterate.core.compat`); a breaking one rejects.
    """
    models = evaluation["models"]
    one_class = one_class_holdout(evaluation.get("holdout") or {})
    if one_class is not None:
        return Verdict(SKIP, False, [skip_reason(one_class)])
    if models.get("production") is None:
        return Verdict(NO_BASELINE, True, ["no baseline yet: there is no production model, so "
                                           "the first candidate is promoted without comparison"])
    if models["candidate"] == models["production"]:
        return Verdict(IS_PRODUCTION, False, ["the candidate is the production model "
                                              "(same bytes): nothing to promote"])
    results = []
    for metric, rule in gate.rules.items():
        stats = evaluation["metrics"][metric]
        results.append(_judge("non_inferiority", metric, "overall", stats, -rule.margin))
        if rule.min_improvement is not None:
            results.append(_judge("min_improvement", metric, "overall", stats,
                                  rule.min_improvement))
    if gate.slices is not None:
        column = slices.get("column")
        for value, metrics in (slices.get("values") or {}).items():
            if metrics is None:
                continue  # too few rows to judge; reported as such in metrics/slices.json
            results.append(_judge("non_inferiority", gate.slices.metric, f"{column}={value}",
                                  metrics[gate.slices.metric], -gate.slices.margin))
    if gate.max_gap_increase is not None:
        results += [RuleResult(**r) for r in explain.gap_rules(
            evaluation.get("gaps"), list(gate.rules), gate.max_gap_increase)]
    failed = [r.reason for r in results if not r.passed]
    failed += [f"breaking change: {c.column + ': ' if c.column else ''}{c.what}; only "
               "`iterate promote --force --reason TEXT` releases it, as a new major version"
               for c in breaking(changes or [])]
    if failed:
        return Verdict(REJECT, False, failed, results)
    return Verdict(PROMOTE, True, [f"all {len(results)} rules pass"], results)


def one_class_holdout(holdout: dict[str, Any]) -> int | None:
    """The class of a holdout whose label holds one class only (evaluate records the classes
    present), else None."""
    classes = holdout.get("classes")
    return classes[0] if classes is not None and len(classes) == 1 else None


def skip_reason(label_class: int) -> str:
    """Why a holdout of one class judges nothing (the loop's table and the backtest say it)."""
    return f"skipped: holdout holds one class ({label_class}) only; it trains later models"


def _judge(rule: str, metric: str, scope: str, stats: dict[str, Any],
           threshold: float) -> RuleResult:
    delta, ci = stats.get("delta"), [stats.get("delta_low"), stats.get("delta_high")]
    name = f"{metric} ({scope})"
    if delta is None or None in ci:
        return RuleResult(rule, metric, scope, None, None, threshold, False,
                          f"{name}: cannot be computed on this holdout (one class only?)")
    sign = 1 if HIGHER_IS_BETTER[metric] else -1
    improvement = sign * delta
    low, high = sorted((sign * ci[0], sign * ci[1]))
    passed = low >= threshold - 1e-12
    if rule == "non_inferiority":
        verb = "within" if passed else "beyond"
        reason = (f"{name}: improvement {improvement:+.4f}, CI [{low:+.4f}, {high:+.4f}]; "
                  f"worst case {verb} the tolerated regression {-threshold:.4f}")
    else:
        verb = "reaches" if passed else "does not reach"
        reason = (f"{name}: improvement {improvement:+.4f}, CI [{low:+.4f}, {high:+.4f}]; "
                  f"worst case {verb} the required {threshold:+.4f}")
    return RuleResult(rule, metric, scope, round(improvement, 6), [round(low, 6), round(high, 6)],
                      threshold, passed, reason)


def conclude(verdict: Verdict, evidence: Any, gate: Gate, age: int | None) -> Verdict:
    """The decision over batches: :func:`decide`'s verdict on this holdout, then the evidence
    pooled over every batch the challenger was judged on (a :class:`iterate.core.sequential
    .Pooled` of ``gate.metric``, its interval at the level spent on this look).

    - at once: a breaking change, or a rule or slice the candidate *clearly* fails (even the
      optimistic end of its CI is beyond the margin) rejects;
    - promote when the evidence shows a gain of at least ``gate.min_gain`` (the CI's low end),
      or, once production is older than ``gate.max_age`` batches (``age``), when it shows the
      candidate non-inferior (low end >= -margin of ``gate.metric``'s rule);
    - reject when it shows the gain below ``min_gain`` (the high end) while production is not
      that old, when it shows the candidate worse than the margin, or after ``gate.max_looks``
      batches without a decision;
    - otherwise pending: the candidate stays as the challenger and is judged again on the next
      batch.
    """
    if verdict.verdict not in (PROMOTE, REJECT):
        return verdict
    clear = [r.reason for r in verdict.rules
             if r.improvement_ci is not None and r.improvement_ci[1] < r.threshold - 1e-12]
    clear += [reason for reason in verdict.reasons if reason.startswith("breaking change")]
    if clear:
        return Verdict(REJECT, False, ["clearly worse: " + clear[0], *clear[1:]], verdict.rules,
                       evidence.to_dict())
    margin = gate.rules[gate.metric].margin
    aged = age is not None and age > gate.max_age
    e, shown = evidence, evidence.to_dict()
    if e.low is None:
        if e.looks >= gate.max_looks:  # pragma: no cover - one-class batches are skipped before
            return Verdict(REJECT, False, ["no evidence after gate.max_looks batches"],
                           verdict.rules, shown)
        return Verdict(PENDING, False, [f"{e.metric}: cannot be estimated yet; the candidate "
                                        "waits as the challenger"], verdict.rules, shown)
    where = (f"{e.metric} improvement {e.improvement:+.4f} over {e.looks} batch(es), "
             f"{e.rows} rows, CI [{e.low:+.4f}, {e.high:+.4f}] at {e.confidence:.4f}")
    if e.low >= gate.min_gain - 1e-12:
        return Verdict(PROMOTE, True, [f"{where}: shows a gain of at least gate.min_gain "
                                       f"{gate.min_gain}"], verdict.rules, shown)
    if aged and e.low >= -margin - 1e-12:
        return Verdict(PROMOTE, True, [f"{where}: non-inferior (margin {margin}) and production is "
                                       f"{age} batches old (> gate.max_age {gate.max_age})"],
                       verdict.rules, shown)
    if e.high < -margin or (not aged and e.high < gate.min_gain):
        return Verdict(REJECT, False, [f"{where}: the gain is shown below gate.min_gain "
                                       f"{gate.min_gain}; production stays"], verdict.rules, shown)
    if e.looks >= gate.max_looks:
        return Verdict(REJECT, False, [f"{where}: undecided after gate.max_looks "
                                       f"({gate.max_looks}) batches; production stays"],
                       verdict.rules, shown)
    return Verdict(PENDING, False, [f"{where}: undecided; the candidate stays as the challenger "
                                    f"(it detects a gain of {gate.min_gain + e.detectable:+.4f} "
                                    "with 80% power)"], verdict.rules, shown)
