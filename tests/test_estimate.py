"""The estimate of performance before labels arrive (iterate.core.estimate, CBPE): its values
against brute-force computations, and its interval's coverage of the realised value once the
labels are known, on generated data with and without covariate drift."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, f1_score, precision_score, recall_score, roc_auc_score

from iterate.core import estimate

THRESHOLD = 0.5


def brute_expected(scores: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """Row by row, pair by pair: the expected counts' ratios and the expected share of
    correctly ordered pairs of distinct rows."""
    predicted = scores >= THRESHOLD
    tp, fp = sum(p[predicted]), sum(1 - p[predicted])
    fn, tn = sum(p[~predicted]), sum(1 - p[~predicted])
    ordered = pairs = 0.0
    for i, j in itertools.permutations(range(len(scores)), 2):
        weight = p[i] * (1 - p[j])  # i positive and j negative
        pairs += weight
        ordered += weight * (1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j]
                             else 0.0)
    return {"roc_auc": ordered / pairs, "accuracy": (tp + tn) / len(scores),
            "precision": tp / (tp + fp), "recall": tp / (tp + fn),
            "f1": 2 * tp / (2 * tp + fp + fn)}


def test_the_expected_metrics_equal_a_row_by_row_pair_by_pair_computation():
    rng = np.random.default_rng(1)
    scores = np.round(rng.uniform(size=60), 1)  # many ties, within and across the threshold
    p = rng.uniform(size=60)
    grouped = estimate.Grouped.of(scores)
    by_group = np.array([p[scores == s].mean() for s in grouped.scores])
    p = by_group[np.searchsorted(grouped.scores, scores)]  # one probability per score

    got = estimate.expected(grouped, by_group, THRESHOLD)

    for metric, value in brute_expected(scores, p).items():
        assert got[metric] == pytest.approx(value, rel=1e-12), metric


def test_the_realised_metrics_of_grouped_labels_equal_scikit_learns():
    rng = np.random.default_rng(2)
    scores = np.round(rng.uniform(size=500), 2)
    labels = (rng.uniform(size=500) < scores).astype(int)
    grouped = estimate.Grouped.of(scores)
    positives = np.array([labels[scores == s].sum() for s in grouped.scores])

    got = estimate.realised(grouped, positives, THRESHOLD)

    predicted = (scores >= THRESHOLD).astype(int)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(labels, scores), rel=1e-12)
    for metric, fn in (("accuracy", accuracy_score), ("precision", precision_score),
                       ("recall", recall_score), ("f1", f1_score)):
        assert got[metric] == pytest.approx(fn(labels, predicted), rel=1e-12), metric


def test_the_expected_metrics_are_the_mean_of_labels_drawn_from_the_probabilities():
    rng = np.random.default_rng(3)
    scores = np.round(rng.uniform(size=3000), 3)
    grouped = estimate.Grouped.of(scores)
    p = np.clip(grouped.scores * 0.8 + 0.1, 0, 1)
    draws = estimate.realised(grouped, rng.binomial(grouped.counts, np.tile(p, (2000, 1))),
                              THRESHOLD)

    got = estimate.expected(grouped, p, THRESHOLD)

    for metric in estimate.METRICS:  # ratios of expectations: close to the mean at this size
        assert got[metric] == pytest.approx(np.mean(draws[metric]), abs=2e-3), metric


def test_calibration_refuses_labels_that_are_not_0_or_1():
    with pytest.raises(ValueError, match="0 or 1"):
        estimate.calibrate([0.1, 0.2], [0, 2], resamples=10, seed=0)


def world(rng, n: int, shift: float, concept: float = 0.0):
    """Rows of a generated world: two features, the true chance of a positive a logistic of
    them, and a model whose score is a miscalibrated monotone map of the true log-odds.
    ``shift`` moves the features (covariate drift); ``concept`` moves the log-odds at the
    same score (concept drift)."""
    x = rng.normal(size=(n, 2)) + shift * np.array([1.0, -0.5])
    logit = 1.5 * x[:, 0] - x[:, 1] - 0.5
    labels = (rng.uniform(size=n) < 1 / (1 + np.exp(-(logit + concept)))).astype(int)
    scores = np.round(1 / (1 + np.exp(-(0.6 * logit + 0.4))), 6)
    return scores, labels


def coverage(shift: float, concept: float = 0.0, seeds: int = 40) -> dict[str, float]:
    """The share of seeds whose 90% interval holds the realised metric of the traffic."""
    hits = dict.fromkeys(estimate.METRICS, 0)
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        reference = world(rng, 2000, 0.0)
        traffic_scores, traffic_labels = world(rng, 1500, shift, concept)
        calibration = estimate.calibrate(*reference, resamples=100, seed=seed)
        got = estimate.estimate(calibration, traffic_scores, THRESHOLD, 0.9, seed)
        grouped = estimate.Grouped.of(traffic_scores)
        group = np.searchsorted(grouped.scores, traffic_scores)
        truth = estimate.realised(grouped, np.bincount(group, traffic_labels,
                                                       len(grouped.scores)), THRESHOLD)
        for metric in estimate.METRICS:
            hits[metric] += got[metric]["low"] <= truth[metric] <= got[metric]["high"]
    return {metric: hit / seeds for metric, hit in hits.items()}


@pytest.mark.slow
@pytest.mark.parametrize("shift", [0.0, 1.0], ids=["no drift", "covariate drift"])
def test_the_interval_covers_the_realised_value_at_about_its_confidence(shift):
    rates = coverage(shift)

    assert coverage(shift, seeds=3) == coverage(shift, seeds=3), "the same seeds, the same"
    for metric, rate in rates.items():  # 90% nominal; 40 seeds: a binomial sd of 0.05
        assert 0.75 <= rate <= 1.0, (metric, rate)
    assert 0.82 <= np.mean(list(rates.values())) <= 0.97, rates


@pytest.mark.slow
def test_concept_drift_is_not_covered_the_limit_of_any_label_free_estimate():
    rates = coverage(0.0, concept=1.5, seeds=10)

    assert rates["precision"] < 0.5 and rates["f1"] < 0.5, rates
