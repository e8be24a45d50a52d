"""The loop's end-of-run table and commit messages (iterate.core.summary): a reject names the
rules that decided it, with their numbers, also when the shown columns (F1, ROC AUC) improved."""

from __future__ import annotations

from iterate.core import gate, summary
from iterate.core.batches import BatchInfo
from iterate.params import Gate, Rule, SliceGuard

BATCH = BatchInfo(id="2013-02-05_2013-02-11", start="", end="", rows=6000, quarantined=0,
                  sha256="", source="", landed_at="")
GATE = Gate(rules={"roc_auc": Rule(margin=0.01), "f1": Rule(margin=0.02),
                   "log_loss": Rule(margin=0.01)}, slices=None)


def stats(delta, low, high):
    return {"candidate": 0.7 + delta, "production": 0.7, "delta": delta, "delta_low": low,
            "delta_high": high}


def evaluation(**metrics):
    """Candidate better than production on each metric but those given."""
    better = {"roc_auc": stats(0.02, 0.01, 0.03), "f1": stats(0.02, 0.01, 0.03),
              "log_loss": stats(-0.02, -0.03, -0.01)}
    return {"holdout": {"batch": BATCH.id, "rows": 6000},
            "models": {"candidate": "a", "production": "b"},
            "metrics": {**better, **metrics}}


def row_of(evaluated, verdict, version=None, compatibility=()):
    verdict = {**verdict.to_dict(), "compatibility": list(compatibility)}
    return summary.iteration_row(BATCH, 7, evaluated, verdict, version)


def test_a_reject_decided_by_log_loss_says_log_loss_with_its_numbers():
    evaluated = evaluation(log_loss=stats(0.015, 0.004, 0.026))  # a loss: higher is worse
    row = row_of(evaluated, gate.decide(evaluated, {}, GATE))

    text = summary.table([row])
    assert "reject: log loss up to 0.0260 worse (0.0100 tolerated)" in text
    assert "+0.020 [+0.010, +0.030]" in text  # F1 and ROC AUC improved: not what decided it
    assert summary.WHY_LEGEND in text
    assert summary.commit_message(row).endswith(
        "reject: log loss up to 0.0260 worse (0.0100 tolerated)")


def test_a_reject_by_a_slice_names_the_slice_and_counts_the_rules_beyond_two():
    guard = SliceGuard(metric="roc_auc", margin=0.01)
    evaluated = evaluation(roc_auc=stats(-0.05, -0.08, -0.02), f1=stats(-0.05, -0.08, -0.02))
    bad = stats(-0.1, -0.2, -0.05)
    sliced = {"column": "origin", "values": {"JFK": {"roc_auc": bad}, "LGA": {"roc_auc": bad}}}
    verdict = gate.decide(evaluated, sliced, Gate(rules=GATE.rules, slices=guard))
    cell = summary.table([row_of(evaluated, verdict)]).splitlines()[2]

    assert "reject: ROC AUC up to 0.0800 worse (0.0100 tolerated); F1 up to 0.0800 worse " \
           "(0.0200 tolerated); 2 more" in cell
    assert summary.why(verdict.to_dict())[2] == "ROC AUC (origin=JFK) up to 0.2000 worse " \
                                                "(0.0100 tolerated)"


def test_a_required_improvement_not_reached_and_a_breaking_change_are_named():
    rules = {"roc_auc": Rule(margin=0.01, min_improvement=0.05)}
    evaluated = evaluation()
    verdict = gate.decide(evaluated, {}, Gate(rules=rules, slices=None))
    breaking = {"kind": "breaking", "column": "distance", "what": "removed"}

    assert summary.why({**verdict.to_dict(), "compatibility": [breaking]}) == [
        "ROC AUC gain +0.0100 at worst (+0.0500 required)", "1 breaking change"]


def test_a_promotion_shows_its_version_and_no_legend():
    evaluated = evaluation()
    row = row_of(evaluated, gate.decide(evaluated, {}, GATE), version="1.1.0")

    text = summary.table([row])
    assert "promote -> v1.1.0" in text and summary.WHY_LEGEND not in text
    assert row["why"] == []



RAIN_BATCH = BatchInfo(id="2021-03-22_2021-03-28", start="a", end="b", rows=140,
                       quarantined=0, sha256="s", source="rain.csv", landed_at="t")
EMPTY_F1 = {"candidate": 0.0, "production": 0.0, "delta": 0.0, "delta_low": 0.0,
            "delta_high": 0.0}


def test_a_skipped_iteration_shows_why_in_the_verdict_column_and_no_metric():
    evaluation = {"holdout": {"rows": 140}, "metrics": {"f1": EMPTY_F1, "roc_auc": {}}}
    verdict = {"verdict": gate.SKIP, "reasons": [gate.skip_reason(0)]}

    row = summary.iteration_row(RAIN_BATCH, 4, evaluation, verdict, None)
    line = summary.table([row]).splitlines()[-1]

    assert line.split()[:3] == ["4", "2021-03-22_2021-03-28", "140"]
    assert line.split()[3:9] == ["—"] * 6, "a holdout of one class shows no metric"
    assert line.endswith("skipped: holdout holds one class (0) only; it trains later models")
    assert summary.commit_message(row) == ("iterate: batch 4 (2021-03-22_2021-03-28): skipped: "
                                           "holdout holds one class (0) only; it trains later "
                                           "models")
