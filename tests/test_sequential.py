"""Evidence that accumulates (iterate.core.sequential) and the gate's decision over batches
(iterate.core.gate.conclude): alpha spending keeps the error rate over every look, pooled
batches narrow the interval, bad candidates are stopped on their first holdout, and a candidate
without a gain of gate.min_gain is never promoted while production is young."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest
from helpers import shipped_params

from iterate.core import compat, evaluate, gate, sequential, training
from iterate.params import SGD_LOGISTIC, Column, Contract, Evaluate, Model

GATE = shipped_params().gate
CONTRACT = Contract(time_column="ts", label="y", columns={
    "x1": Column("float"), "x2": Column("float"), "colour": Column("category")})
MODEL = Model(estimator=SGD_LOGISTIC.estimator, params=SGD_LOGISTIC.params, threshold=0.5, seed=0)
OPTIONS = Evaluate(slice_column=None, resamples=200)


def rows(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n),
                      "colour": rng.choice(np.array(["red", "green", "blue"]), n)})
    logit = 2.0 * x["x1"] - x["x2"] + (x["colour"] == "red") - 1.0
    return x, (rng.random(n) < 1 / (1 + np.exp(-logit.to_numpy()))).astype("int64")


def judged(candidate, production, x, y, looks=None, age=1):
    """The gate's conclusion on one holdout (and the evidence of earlier ``looks``)."""
    pc, pp = candidate.predict_proba(x)[:, 1], production.predict_proba(x)[:, 1]
    metrics, slices = evaluate.candidate_vs_production(y, pc, pp, MODEL.threshold, OPTIONS)
    evaluation = {"models": {"candidate": "c", "production": "p"}, "metrics": metrics}
    pooled = sequential.pool([*(looks or []), (y, pc, pp)], GATE.metric, GATE.alpha)
    return gate.conclude(gate.decide(evaluation, slices, GATE), pooled, GATE, age)


@pytest.fixture(scope="module")
def production():
    x, y = rows(2000, 1)
    return training.fit_full(MODEL, CONTRACT, x, y)


def test_the_levels_spent_over_any_number_of_looks_sum_to_at_most_alpha():
    assert sequential.level(0.05, 1) == pytest.approx(0.025)
    assert sum(sequential.level(0.05, k) for k in range(1, 10_000)) < 0.05
    assert sum(sequential.level(0.05, k) for k in range(1, 10_000)) > 0.0499


def test_a_challenger_no_better_is_promoted_in_at_most_alpha_of_runs_although_looked_at_10_times():
    rng = np.random.default_rng(0)
    promoted = 0
    for _ in range(100):
        looks = []
        for _ in range(10):
            y = rng.integers(0, 2, 60)
            signal = y + rng.normal(scale=1.5, size=60)
            a = 1 / (1 + np.exp(-(signal + rng.normal(scale=0.5, size=60))))
            b = 1 / (1 + np.exp(-(signal + rng.normal(scale=0.5, size=60))))
            looks.append((y, a, b))
            pooled = sequential.pool(looks, "roc_auc", 0.05)
            if pooled.low > 0.0:
                promoted += 1
                break
    assert promoted <= 0.05 * 100


def test_pooled_improvement_is_the_row_weighted_mean_and_more_batches_narrow_the_interval():
    rng = np.random.default_rng(1)
    looks = []
    for n in (100, 300, 200, 400):
        y = rng.integers(0, 2, n)
        looks.append((y, np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1),
                      np.clip(0.5 + 0.1 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)))
    one = sequential.pool(looks[:1], "roc_auc", 0.05)
    four = sequential.pool(looks, "roc_auc", 0.05)
    each = [evaluate.paired_improvement(y, a, b, "roc_auc") for y, a, b in looks]
    assert four.improvement == pytest.approx(sum(d * n for d, _, n in each) / 1000)
    assert four.looks == 4 and four.rows == 1000 and four.confidence == pytest.approx(0.9975)
    assert four.high - four.low < one.high - one.low
    assert four.detectable < one.detectable


def test_for_a_loss_the_improvement_is_production_minus_candidate():
    y = np.array([0, 1, 0, 1])
    better, worse = np.array([0.1, 0.9, 0.2, 0.8]), np.array([0.4, 0.6, 0.5, 0.5])
    assert evaluate.paired_improvement(y, better, worse, "log_loss")[0] > 0


def test_candidate_trained_on_flipped_labels_is_rejected_on_its_first_holdout(production):
    x, y = rows(2000, 2)
    flipped = training.fit_full(MODEL, CONTRACT, x, 1 - y)
    hx, hy = rows(150, 3)
    verdict = judged(flipped, production, hx, hy)
    assert verdict.verdict == gate.REJECT and verdict.reasons[0].startswith("clearly worse")


def test_candidate_with_a_feature_broken_to_a_constant_is_rejected_on_its_first_holdout(production):
    x, y = rows(2000, 4)
    broken = training.fit_full(MODEL, CONTRACT, x.assign(x1=0.0), y)
    hx, hy = rows(150, 5)
    verdict = judged(broken, production, hx, hy)  # the holdout's x1 is real
    assert verdict.verdict == gate.REJECT and "clearly worse" in verdict.reasons[0]


def test_candidate_missing_a_column_is_rejected_on_its_first_holdout_as_a_breaking_change(
        production):
    x, y = rows(2000, 6)
    old = {"input_schema": training.input_schema(CONTRACT, production, x),
           "output": {"classes": [0, 1], "threshold": 0.5, "probability_of": 1}}
    new = copy.deepcopy(old)
    del new["input_schema"]["x2"]
    changes = compat.compare(old, new)
    hx, hy = rows(150, 7)
    p = production.predict_proba(hx)[:, 1]
    metrics, slices = evaluate.candidate_vs_production(hy, p, p, 0.5, OPTIONS)
    evaluation = {"models": {"candidate": "c", "production": "p"}, "metrics": metrics}
    pooled = sequential.pool([(hy, p, p)], GATE.metric, GATE.alpha)
    verdict = gate.conclude(gate.decide(evaluation, slices, GATE, changes), pooled, GATE, 1)
    assert verdict.verdict == gate.REJECT and "breaking change" in verdict.reasons[0]


def test_a_real_gain_one_small_holdout_cannot_show_stays_pending_then_pooled_batches_promote_it():
    x, y = rows(3000, 8)
    weak = training.fit_full(MODEL, CONTRACT, x[["x2", "colour"]].assign(x1=0.0), y)
    strong = training.fit_full(MODEL, CONTRACT, x, y)
    looks, verdicts = [], []
    for seed in range(10, 30):
        hx, hy = rows(40, seed)
        verdicts.append(judged(strong, weak, hx, hy, looks).verdict)
        looks.append((hy, strong.predict_proba(hx)[:, 1], weak.predict_proba(hx)[:, 1]))
        if verdicts[-1] != gate.PENDING:
            break
    assert verdicts[0] in (gate.PENDING, gate.PROMOTE)
    assert verdicts[-1] == gate.PROMOTE


def test_no_churn_a_candidate_as_good_as_young_production_is_not_promoted(production):
    x, y = rows(2000, 40)
    twin = training.fit_full(MODEL, CONTRACT, x, y)
    looks, verdict = [], None
    for seed in range(41, 47):
        hx, hy = rows(3000, seed)
        verdict = judged(twin, production, hx, hy, looks, age=2)
        looks.append((hy, twin.predict_proba(hx)[:, 1], production.predict_proba(hx)[:, 1]))
        assert verdict.verdict != gate.PROMOTE
        if verdict.verdict == gate.REJECT:
            break
    assert verdict.verdict == gate.REJECT


def test_once_production_is_older_than_max_age_a_non_inferior_candidate_is_promoted(production):
    x, y = rows(2000, 50)
    twin = training.fit_full(MODEL, CONTRACT, x, y)
    hx, hy = rows(5000, 51)
    verdict = judged(twin, production, hx, hy, age=GATE.max_age + 1)
    assert verdict.verdict == gate.PROMOTE and "gate.max_age" in verdict.reasons[0]


def test_the_evaluate_stage_appends_a_holdout_to_the_challengers_evidence_and_the_gate_pools_it(
        tmp_path):
    import json

    from iterate.stages import evaluate as evaluate_stage
    from iterate.stages import gate as gate_stage

    rng = np.random.default_rng(3)
    challenger, empty = tmp_path / "challenger", tmp_path / "none"
    challenger.mkdir()
    empty.mkdir()
    (challenger / "model.json").write_text(json.dumps({"sha256": "c"}))

    def holdout(n):
        y = rng.integers(0, 2, n)
        return y, {"candidate": np.clip(0.5 + 0.3 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1),
                   "production": rng.random(n)}

    y1, p1 = holdout(80)
    evaluate_stage.write_evidence(challenger / "evidence.npz", empty, "b1", y1, p1, "c", "p")
    y2, p2 = holdout(120)
    out = tmp_path / "evidence.npz"
    evaluate_stage.write_evidence(out, challenger, "b2", y2, p2, "c", "p")
    pooled = gate_stage.pooled(out, GATE)
    assert pooled.looks == 2 and pooled.rows == 200
    evaluate_stage.write_evidence(out, challenger, "b2", y2, p2, "c", "another production")
    assert gate_stage.pooled(out, GATE).looks == 1, "evidence against another production is dropped"
    evaluate_stage.write_evidence(out, challenger, "b2", y2, p2, "a new candidate", "p")
    assert gate_stage.pooled(out, GATE).looks == 1, "a new candidate starts its own evidence"
