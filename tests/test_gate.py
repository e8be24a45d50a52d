"""Tests of iterate.core.gate.decide on hand-made evaluations (the shape the evaluate stage writes)
and of `iterate gate --check`'s exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import shipped_params

from iterate.commands import cli
from iterate.core import gate
from iterate.params import Gate, Rule, SliceGuard


def stats(delta, low, high, production=0.75):
    """One metric's comparison as evaluate.to_dict writes it."""
    value = None if delta is None else production + delta
    return {"candidate": value, "candidate_low": None, "candidate_high": None,
            "production": production, "production_low": None, "production_high": None,
            "delta": delta, "delta_low": low, "delta_high": high}


SAME = stats(0.0, -0.002, 0.002)


def evaluation(candidate="a", production="b", **metrics):
    return {"holdout": {"batch": "2013-02-05_2013-02-11", "rows": 6000, "positive_rate": 0.24},
            "models": {"candidate": candidate, "production": production},
            "metrics": {name: metrics.get(name, SAME)
                        for name in ("roc_auc", "f1", "log_loss", "accuracy")}}


def slices(**values):
    return {"column": "origin", "min_rows": 200, "values": values}


def only(metric, margin=0.01, min_improvement=None, guard=None):
    return Gate(rules={metric: Rule(margin=margin, min_improvement=min_improvement)},
                slices=guard)


# ---------------------------------------------------------------- no comparison possible


def test_no_production_model_is_no_baseline_and_promotable():
    verdict = gate.decide(evaluation(production=None), slices(), shipped_params().gate)

    assert verdict.verdict == gate.NO_BASELINE
    assert verdict.promotable is True
    assert "no production model" in verdict.reasons[0]


def test_candidate_with_the_production_hash_is_is_production_and_not_promotable():
    verdict = gate.decide(evaluation(candidate="same", production="same"), slices(),
                          shipped_params().gate)

    assert verdict.verdict == gate.IS_PRODUCTION
    assert verdict.promotable is False


@pytest.mark.parametrize("production", ["b", None])
def test_holdout_of_one_class_is_a_skip_verdict_not_promotable_naming_the_class(production):
    one_class = evaluation(production=production)
    one_class["holdout"].update(positive_rate=0.0, classes=[0])

    verdict = gate.decide(one_class, slices(), shipped_params().gate)

    assert (verdict.verdict, verdict.promotable, verdict.rules) == (gate.SKIP, False, [])
    assert verdict.reasons == ["skipped: holdout holds one class (0) only; it trains later "
                               "models"]


def test_holdout_of_both_classes_is_judged_by_the_rules():
    both = evaluation()
    both["holdout"]["classes"] = [0, 1]

    assert gate.decide(both, slices(), shipped_params().gate).verdict == gate.PROMOTE


# ---------------------------------------------------------------- non-inferiority


def test_regression_whose_ci_low_end_is_beyond_the_margin_is_rejected_naming_the_metric():
    regressed = evaluation(roc_auc=stats(-0.005, -0.0150, 0.005))

    verdict = gate.decide(regressed, slices(), only("roc_auc", margin=0.01))

    assert verdict.verdict == gate.REJECT
    assert verdict.promotable is False
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("roc_auc (overall): improvement -0.0050")
    assert "beyond the tolerated regression" in verdict.reasons[0]


def test_regression_within_the_margin_is_promoted():
    slight = evaluation(roc_auc=stats(-0.004, -0.0090, 0.001))

    verdict = gate.decide(slight, slices(), only("roc_auc", margin=0.01))

    assert verdict.verdict == gate.PROMOTE
    assert verdict.promotable is True
    assert verdict.rules[0].passed
    assert verdict.rules[0].improvement_ci == [-0.009, 0.001]


def test_regression_exactly_at_the_margin_is_tolerated():
    edge = evaluation(roc_auc=stats(-0.005, -0.01, 0.0))

    assert gate.decide(edge, slices(), only("roc_auc", margin=0.01)).verdict == gate.PROMOTE


def test_for_log_loss_a_positive_delta_is_a_regression():
    worse = evaluation(log_loss=stats(0.03, 0.02, 0.04))

    verdict = gate.decide(worse, slices(), only("log_loss", margin=0.01))

    assert verdict.verdict == gate.REJECT
    assert verdict.rules[0].improvement == -0.03
    assert verdict.rules[0].improvement_ci == [-0.04, -0.02]
    assert verdict.reasons[0].startswith("log_loss (overall)")


def test_for_log_loss_a_negative_delta_is_an_improvement():
    better = evaluation(log_loss=stats(-0.03, -0.04, -0.02))

    verdict = gate.decide(better, slices(), only("log_loss", margin=0.01))

    assert verdict.verdict == gate.PROMOTE
    assert verdict.rules[0].improvement == 0.03


def test_only_the_failing_metric_is_named_among_several_rules():
    mixed = evaluation(roc_auc=stats(0.01, 0.005, 0.015), f1=stats(-0.05, -0.08, -0.02))

    verdict = gate.decide(mixed, slices(), shipped_params().gate)

    assert verdict.verdict == gate.REJECT
    assert [r.split(" ")[0] for r in verdict.reasons] == ["f1"]


# ---------------------------------------------------------------- required improvement


def test_min_improvement_rejects_when_the_ci_low_end_falls_short_even_if_delta_reaches_it():
    better_on_average = evaluation(roc_auc=stats(0.02, 0.005, 0.035))

    verdict = gate.decide(better_on_average, slices(),
                          only("roc_auc", margin=0.01, min_improvement=0.01))

    assert verdict.verdict == gate.REJECT
    assert [r.rule for r in verdict.rules] == ["non_inferiority", "min_improvement"]
    assert [r.passed for r in verdict.rules] == [True, False]
    assert "does not reach the required +0.0100" in verdict.reasons[0]


def test_min_improvement_promotes_when_the_ci_low_end_reaches_it():
    clearly_better = evaluation(roc_auc=stats(0.02, 0.012, 0.028))

    verdict = gate.decide(clearly_better, slices(),
                          only("roc_auc", margin=0.01, min_improvement=0.01))

    assert verdict.verdict == gate.PROMOTE
    assert verdict.reasons == ["all 2 rules pass"]


# ---------------------------------------------------------------- slices


GUARD = SliceGuard(metric="roc_auc", margin=0.05)


def test_failing_slice_guard_rejects_naming_the_slice():
    per_slice = slices(JFK={"roc_auc": stats(-0.08, -0.12, -0.04)},
                       LGA={"roc_auc": stats(0.0, -0.01, 0.01)})

    verdict = gate.decide(evaluation(), per_slice, only("roc_auc", guard=GUARD))

    assert verdict.verdict == gate.REJECT
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("roc_auc (origin=JFK)")
    assert [r.scope for r in verdict.rules] == ["overall", "origin=JFK", "origin=LGA"]


def test_slice_with_too_few_rows_is_skipped():
    per_slice = slices(JFK=None, LGA={"roc_auc": stats(0.0, -0.01, 0.01)})

    verdict = gate.decide(evaluation(), per_slice, only("roc_auc", guard=GUARD))

    assert verdict.verdict == gate.PROMOTE
    assert [r.scope for r in verdict.rules] == ["overall", "origin=LGA"]


def test_slices_are_not_judged_without_a_slice_guard():
    per_slice = slices(JFK={"roc_auc": stats(-0.5, -0.6, -0.4)})

    verdict = gate.decide(evaluation(), per_slice, only("roc_auc", guard=None))

    assert verdict.verdict == gate.PROMOTE


# ---------------------------------------------------------------- undefined metrics


@pytest.mark.parametrize("metric_stats", [
    stats(None, None, None),
    stats(0.01, None, 0.02),
])
def test_undefined_delta_or_ci_rejects_saying_it_cannot_be_computed(metric_stats):
    verdict = gate.decide(evaluation(roc_auc=metric_stats), slices(), only("roc_auc"))

    assert verdict.verdict == gate.REJECT
    assert verdict.reasons == ["roc_auc (overall): cannot be computed on this holdout "
                               "(one class only?)"]


def test_verdict_to_dict_is_json_with_passed_as_an_integer():
    verdict = gate.decide(evaluation(), slices(), shipped_params().gate)

    data = json.loads(json.dumps(verdict.to_dict(), allow_nan=False))

    assert data["verdict"] == "promote" and data["passed"] == 1
    assert {r["metric"] for r in data["rules"]} == {"roc_auc", "f1", "log_loss"}


# ---------------------------------------------------------------- iterate gate --check


def _write_gate_json(folder, verdict):
    (folder / "metrics").mkdir()
    report = {**verdict.to_dict(), "models": {"candidate": "a", "production": "b"}}
    (folder / "metrics" / "gate.json").write_text(json.dumps(report), encoding="utf-8")


def _run_gate(folder, *args):
    return subprocess.run([sys.executable, "-m", "iterate.commands.cli", "gate", *args], cwd=folder,
                          capture_output=True, text=True, check=False)


def test_gate_check_exits_1_on_reject_and_prints_the_reasons(tmp_path):
    rejected = gate.decide(evaluation(f1=stats(-0.05, -0.08, -0.02)), slices(),
                           shipped_params().gate)
    _write_gate_json(tmp_path, rejected)

    result = _run_gate(tmp_path, "--check")

    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == "gate: reject"
    assert result.stdout.splitlines()[1].startswith("  - f1 (overall)")


def test_gate_check_exits_0_on_promote(tmp_path):
    _write_gate_json(tmp_path, gate.decide(evaluation(), slices(), shipped_params().gate))

    result = _run_gate(tmp_path, "--check")

    assert result.returncode == 0
    assert result.stdout.splitlines()[0] == "gate: promote"


def test_gate_without_check_exits_0_on_reject(tmp_path, monkeypatch):
    rejected = gate.decide(evaluation(f1=stats(-0.05, -0.08, -0.02)), slices(),
                           shipped_params().gate)
    _write_gate_json(tmp_path, rejected)
    monkeypatch.chdir(tmp_path)

    assert cli.main(["gate"]) == 0


def test_gate_check_without_a_verdict_file_says_so_in_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)

    code = cli.main(["gate", "--check"])

    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: metrics/gate.json: not found")
