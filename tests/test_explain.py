"""What each version relies on and whom it serves worse (docs/explain.md): permutation
importance paired between two models, gaps between groups, the gate's rule on gaps, and the
honest reading on small data.

Models are fitted on one week of the embedded source and judged on the next; the candidate
is changed in one known way (a feature shuffled in its training data, one group's labels
noised), so the change the explanation must find is known."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import shipped_params, typed_weeks

from iterate.core import evaluate, explain, gaps, gate, importance, training
from iterate.repo import scores

PARAMS = shipped_params()
FEATURES = PARAMS.contract.features
GROUP = "origin"


@pytest.fixture(scope="module")
def weeks():
    data = typed_weeks(12500)
    return data[data.batch_id == "week-0"], data[data.batch_id == "week-1"]


def fit(frame):
    model = dataclasses.replace(PARAMS.model, params={**PARAMS.model.params, "max_iter": 40})
    pipeline = training.build(model, PARAMS.contract)
    pipeline.fit(frame[FEATURES], frame[PARAMS.contract.label])
    return lambda rows: pipeline.predict_proba(rows[FEATURES])[:, 1]


@pytest.fixture(scope="module")
def production(weeks):
    return fit(weeks[0])


def explained(candidate, production, holdout, **options):
    """The evaluation's importance block, both models scored as the stages score them."""
    explain_options = dataclasses.replace(PARAMS.explain, **options)
    y = holdout[PARAMS.contract.label].to_numpy()
    probas = {"candidate": candidate(holdout), "production": production(holdout)}
    shuffled = {name: importance.shuffled_scores(model, holdout, FEATURES, explain_options)
                for name, model in (("candidate", candidate), ("production", production))}
    return importance.paired(y, probas, shuffled, explain_options, 0.95)


def gaps_of(candidate, production, holdout):
    y = holdout[PARAMS.contract.label].to_numpy()
    return gaps.by_column(y, candidate(holdout), production(holdout),
                          {GROUP: holdout[GROUP].astype(str).to_numpy()}, PARAMS.model.threshold,
                          known={}, min_rows=200, min_change=PARAMS.explain.min_change,
                          confidence=0.95, resamples=1000, seed=0)


def judged(candidate, production, holdout, max_gap_increase=0.02):
    """The gate's verdict with only the gap rule able to reject (the metric rules' margins
    are wide open)."""
    y = holdout[PARAMS.contract.label].to_numpy()
    pc, pp = candidate(holdout), production(holdout)
    evaluation = {"models": {"candidate": "c", "production": "p"},
                  "holdout": {"classes": [0, 1]},
                  "metrics": evaluate.to_dict(evaluate.compare(y, pc, pp, PARAMS.model.threshold)),
                  "gaps": gaps_of(candidate, production, holdout)}
    rules = dataclasses.replace(PARAMS.gate, rules={"roc_auc": PARAMS.gate.rules["roc_auc"]},
                                slices=None, max_gap_increase=max_gap_increase)
    rules = dataclasses.replace(rules, rules={"roc_auc": dataclasses.replace(
        rules.rules["roc_auc"], margin=1.0)})
    return gate.decide(evaluation, {}, rules)


@pytest.fixture(scope="module")
def shuffled_carrier(weeks):
    frame = weeks[0].copy()
    frame["carrier"] = np.random.default_rng(1).permutation(frame["carrier"].to_numpy())
    return fit(frame)


@pytest.mark.slow
def test_a_feature_shuffled_in_training_loses_its_importance_and_is_named(
        weeks, production, shuffled_carrier):
    result = explained(shuffled_carrier, production, weeks[1], rows=5000, repeats=3)
    carrier = result["features"]["carrier"]
    assert carrier["production"] > 0.02 and abs(carrier["candidate"]) < 0.01
    assert carrier["delta_high"] < 0 and carrier["reading"] == "less important"
    assert "carrier" in result["moved"]
    assert "carrier less important" in explain.lines({"importance": result})[0]


@pytest.mark.slow
def test_with_too_few_rows_the_same_change_is_not_enough_rows_to_tell(
        weeks, production, shuffled_carrier):
    result = explained(shuffled_carrier, production, weeks[1], rows=100, repeats=3)
    carrier = result["features"]["carrier"]
    assert carrier["delta"] < -0.02, "the effect is there ..."
    assert carrier["delta_low"] < 0 < carrier["delta_high"], "... but the CI is wider"
    assert carrier["reading"] == explain.UNCLEAR and "carrier" not in result["moved"]


@pytest.fixture(scope="module")
def noised_group(weeks):
    frame = weeks[0].copy()
    label = PARAMS.contract.label
    rows = (frame[GROUP] == "EWR").to_numpy() & (np.random.default_rng(1).random(len(frame))
                                                 < 0.7)
    frame.loc[rows, label] = 1 - frame.loc[rows, label]
    return fit(frame)


@pytest.mark.slow
def test_noised_labels_of_one_group_widen_its_gap_and_the_gap_rule_rejects(
        weeks, production, noised_group):
    found = gaps_of(noised_group, production, weeks[1])
    auc = found["columns"][GROUP]["roc_auc"]
    assert auc["delta_low"] > 0 and auc["reading"] == "widened"
    assert "EWR" in auc["widest"]["candidate"]
    assert f"roc_auc by {GROUP}" in found["widened"]
    verdict = judged(noised_group, production, weeks[1])
    (rule,) = [r for r in verdict.rules if r.rule == explain.MAX_GAP_INCREASE]
    assert not rule.passed and rule.scope == f"gap by {GROUP}"
    assert verdict.verdict == gate.REJECT and "roc_auc gap between origin groups" in \
        verdict.reasons[0]


@pytest.mark.slow
def test_an_identical_candidate_names_nothing(weeks, production):
    result = explained(production, production, weeks[1], rows=1000, repeats=2)
    assert result["moved"] == []
    assert {s["reading"] for s in result["features"].values()} == {explain.UNCHANGED}
    assert all(s["delta"] == s["delta_low"] == s["delta_high"] == 0
               for s in result["features"].values())
    found = gaps_of(production, production, weeks[1])
    assert found["widened"] == []
    assert all(s is None or s["delta"] == 0 for s in found["columns"][GROUP].values())
    verdict = judged(production, production, weeks[1])
    assert verdict.verdict == gate.PROMOTE


def test_the_same_seed_and_holdout_give_both_models_the_same_rows_and_permutations():
    options = dataclasses.replace(PARAMS.explain, rows=50, repeats=2)
    frame = typed_weeks(12500).head(300).reset_index(drop=True)
    seen = []

    def record(block):
        seen.append(block[["carrier", "dest"]].astype(str).to_numpy())
        return np.full(len(block), 0.5)

    first = importance.shuffled_scores(record, frame, ["carrier", "dest"], options)
    second = importance.shuffled_scores(record, frame, ["dest", "carrier"], options)
    assert np.array_equal(first[0], second[0]) and len(first[0]) == 50
    block = 50 * 2  # rows x repeats: carrier's block comes first, then second
    assert np.array_equal(seen[0][:block, 0], seen[1][block:, 0]), (
        "a feature's shuffles depend on its name, not its place in the list")
    assert not np.array_equal(seen[0][:block, 0], np.tile(frame["carrier"].astype(str)
                                                          .to_numpy()[first[0]], 2))
    assert not np.array_equal(importance.permutation("carrier", 0, 50, 0),
                              importance.permutation("dest", 0, 50, 0))
    assert np.array_equal(importance.sample_rows(300, options), first[0])


def test_shuffled_scores_round_trip_through_their_file(tmp_path):
    rows = np.array([3, 5, 8])
    shuffled = {"a": np.array([[0.1, 0.2, 0.3], [0.4, 0.5, 0.6]]), "b": np.full((2, 3), 0.25)}
    scores.write_shuffled(tmp_path / "s.parquet", (rows, shuffled))
    back_rows, back = scores.read_shuffled(tmp_path / "s.parquet", 10)
    assert np.array_equal(back_rows, rows) and set(back) == {"a", "b"}
    assert np.allclose(back["a"], shuffled["a"], atol=1e-7)
    scores.write_shuffled(tmp_path / "none.parquet", None)
    assert scores.read_shuffled(tmp_path / "none.parquet", 10) is None


def test_shuffled_scores_of_another_holdout_are_refused_in_one_line(tmp_path):
    scores.write_shuffled(tmp_path / "s.parquet", (np.array([3, 9]), {"a": np.full((1, 2), .5)}))
    with pytest.raises(Exception, match="not shuffled scores of this holdout"):
        scores.read_shuffled(tmp_path / "s.parquet", 5)


@pytest.mark.parametrize("stats, expected", [
    ({"delta": 0.03, "delta_low": 0.01, "delta_high": 0.05}, "up"),
    ({"delta": -0.03, "delta_low": -0.05, "delta_high": -0.01}, "down"),
    ({"delta": 0.0, "delta_low": 0.0, "delta_high": 0.0}, explain.UNCHANGED),
    ({"delta": 0.001, "delta_low": -0.004, "delta_high": 0.004}, explain.UNCHANGED),
    ({"delta": 0.03, "delta_low": -0.01, "delta_high": 0.07}, explain.UNCLEAR),
    ({"delta": 0.003, "delta_low": 0.001, "delta_high": 0.009}, explain.UNCLEAR),  # tiny
    ({"delta": None, "delta_low": None, "delta_high": None}, None),
])
def test_a_change_is_named_only_when_its_ci_excludes_zero_and_it_is_large_enough(stats,
                                                                                 expected):
    assert explain.reading(stats, 0.005, "up", "down") == expected


def gap_stats(delta, low, high):
    return {"columns": {GROUP: {"roc_auc": {"candidate": 0.1 + delta, "production": 0.1,
                                            "delta": delta, "delta_low": low,
                                            "delta_high": high}}}}


def test_the_gap_rule_is_judged_on_the_ci_high_end_of_the_widening():
    (passing,) = explain.gap_rules(gap_stats(0.005, -0.01, 0.019), ["roc_auc"], 0.02)
    (failing,) = explain.gap_rules(gap_stats(0.005, -0.01, 0.021), ["roc_auc"], 0.02)
    assert passing["passed"] and not failing["passed"]
    assert failing["improvement_ci"] == [-0.021, 0.01] and failing["threshold"] == -0.02
    assert "beyond the tolerated widening 0.0200" in failing["reason"]


def test_a_column_without_two_groups_to_compare_has_no_gap_rule():
    assert explain.gap_rules({"columns": {GROUP: {"roc_auc": None}}}, ["roc_auc"], 0.02) == []


def test_fewer_than_two_groups_large_enough_give_no_gap():
    one = {"EWR": {"roc_auc": {"candidate": 0.6, "candidate_low": 0.55, "candidate_high": 0.65}},
           "JFK": None}
    assert gaps.compare(one, ["roc_auc"], confidence=0.95, resamples=100, seed=0) == {
        "roc_auc": None}


def test_the_gap_without_production_has_the_candidates_side_only():
    groups = {g: {"roc_auc": {"candidate": v, "candidate_low": v - 0.02,
                              "candidate_high": v + 0.02, "production": None,
                              "production_low": None, "production_high": None, "delta": None,
                              "delta_low": None, "delta_high": None}}
              for g, v in (("A", 0.6), ("B", 0.7))}
    gap = gaps.compare(groups, ["roc_auc"], confidence=0.95, resamples=500, seed=0)["roc_auc"]
    assert gap["candidate"] == pytest.approx(0.1) and gap["candidate_low"] < 0.1
    assert gap["production"] is None and gap["delta"] is None
    assert gap["widest"] == {"candidate": ["B", "A"]}


def summary_of(moved: bool) -> dict:
    """A gate.json ``explain`` summary: two features and one gap, as the gate writes it."""
    carrier = {"candidate": 0.001, "candidate_low": -0.004, "candidate_high": 0.006,
               "production": 0.05, "production_low": 0.035, "production_high": 0.065,
               "delta": -0.049, "delta_low": -0.065, "delta_high": -0.033,
               "reading": "less important"}
    if not moved:
        carrier = {**carrier, "delta_low": -0.1, "delta_high": 0.002, "reading": explain.UNCLEAR}
    dest = {"candidate": 0.02, "candidate_low": 0.01, "candidate_high": 0.03, "production": 0.02,
            "production_low": 0.01, "production_high": 0.03, "delta": 0.0, "delta_low": 0.0,
            "delta_high": 0.0, "reading": explain.UNCHANGED}
    gap = {"candidate": 0.2, "production": 0.05, "delta": 0.15, "delta_low": 0.1,
           "delta_high": 0.2, "reading": "widened", "widest": {"candidate": ["LGA", "EWR"]}}
    if not moved:
        gap = {**gap, "delta_low": -0.1, "reading": explain.UNCLEAR}
    return {"importance": {"metric": "roc_auc", "rows": 2000,
                           "moved": ["carrier"] if moved else [],
                           "features": {"carrier": carrier, "dest": dest}},
            "gaps": {"widened": ["roc_auc by origin"] if moved else [],
                     "columns": {GROUP: {"roc_auc": gap}}}}


def test_the_changelog_entry_names_what_moved_and_which_gaps_widened():
    lines = "\n".join(explain.changelog_lines(summary_of(moved=True)))
    assert "**Relies most on** (ROC AUC lost when shuffled): dest 0.0200, carrier 0.0010" in lines
    assert "**Importance moved:** carrier less important (-0.0490, 95% CI [-0.0650, -0.0330])" \
        in lines
    assert "**Gaps between groups widened:** roc_auc by origin" in lines


def test_the_changelog_entry_names_nothing_when_no_ci_excludes_zero():
    lines = "\n".join(explain.changelog_lines(summary_of(moved=False)))
    assert "no feature beyond its CI (not enough rows to tell for 1 of 2)" in lines
    assert "widened:** none beyond its CI" in lines
    assert "carrier less important" not in lines


def test_the_model_card_shows_what_the_version_relies_on_and_its_gaps():
    from iterate.core import changelog

    entry = {"version": "1.1.0", "time": "2013-02-01T00:00:00Z", "reason": "all rules pass",
             "kind": "HistGradientBoostingClassifier", "train_mode": "full",
             "model_sha256": "a" * 64, "training_data": {"batches": []},
             "explain": summary_of(moved=True)}
    card = changelog.card("m", entry, {}, {"probability_of": 1, "classes": [0, 1],
                                           "threshold": 0.5})
    relies = card.split("## What it relies on", 1)[1].split("## Gaps between groups")[0]
    assert relies.index("| dest |") < relies.index("| carrier |"), "most important first"
    assert "| carrier | 0.0010 [-0.0040, 0.0060] | 0.0500 [0.0350, 0.0650] | -0.0490 | " \
        "[-0.0650, -0.0330] | **less important** |" in relies
    gaps_part = card.split("## Gaps between groups", 1)[1].split("## Known limits")[0]
    assert "| origin | ROC AUC | 0.2000 | 0.0500 | +0.1500 | [+0.1000, +0.2000] | " \
        "**widened** | LGA vs EWR |" in gaps_part


def test_the_report_has_a_section_on_importance_and_gaps_and_the_gap_rules_are_not_slices():
    from iterate.core import report

    evaluation = {"importance": {**summary_of(True)["importance"]},
                  "gaps": summary_of(True)["gaps"]}
    rule = {**explain.gap_rules(gap_stats(0.15, 0.1, 0.2), ["roc_auc"], 0.02)[0]}
    text = report.render(gate={"verdict": "reject", "reasons": [rule["reason"]],
                               "rules": [rule]}, evaluation=evaluation,
                         slices={"column": GROUP, "min_rows": 200, "values": {}})
    section = text.split("## What the model relies on, and whom it serves worse", 1)[1]
    section = section.split("\n## ", 1)[0]
    assert "**Moved beyond its CI:** carrier." in section
    assert "**Widened:** roc_auc by origin." in section
    assert "| max gap increase | ROC AUC | gap by origin |" in text
    assert "No slice guard was judged" in text.split("## Slices", 1)[1]
