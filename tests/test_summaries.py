"""core.summaries: evaluation and drift numbers from per-partition summaries merged equal what
core.evaluate and core.drift compute on all the rows at once (no cluster needed)."""

from __future__ import annotations

from functools import reduce

import numpy as np
import pytest
from scipy import stats

from iterate.core import drift, evaluate, summaries

TOL = 1e-12
CI = {"confidence": 0.95, "resamples": 400, "seed": 3}


def rows(n: int, seed: int = 0, one_class: bool = False):
    rng = np.random.default_rng(seed)
    y = np.zeros(n, dtype=int) if one_class else (rng.random(n) < 0.3).astype(int)
    # rounded scores: many ties within and across partitions
    pc = np.clip(np.round(0.3 * y + rng.random(n) * 0.7, 2), 0, 1)
    pp = np.clip(np.round(0.2 * y + rng.random(n) * 0.8, 3), 0, 1)
    return y, pc, pp


def cuts(n: int) -> list[slice]:
    edges = [0, n // 5, n // 5 + 1, n // 2, n]
    return [slice(a, b) for a, b in zip(edges, edges[1:], strict=False)]


def merged(y, pc, pp, threshold=0.5):
    parts = [summaries.summarise(y[s], pc[s], None if pp is None else pp[s], threshold)
             for s in cuts(len(y))]
    total = reduce(summaries.merge, parts)
    tables = summaries.components(total) if pp is not None else None
    spread = None if tables is None else reduce(
        summaries.merge_spreads, [summaries.spread(y[s], pc[s], pp[s], tables)
                                  for s in cuts(len(y))])
    return summaries.compare(total, spread, **CI)


def assert_same(got: dict, want: dict) -> None:
    assert list(got) == list(want)
    for metric, comparison in want.items():
        for side in ("candidate", "production", "delta"):
            a, b = getattr(got[metric], side), getattr(comparison, side)
            for field in ("value", "ci_low", "ci_high"):
                x, w = getattr(a, field), getattr(b, field)
                assert (x is None) == (w is None), (metric, side, field)
                if w is not None:
                    assert x == pytest.approx(w, abs=TOL), (metric, side, field)


@pytest.mark.parametrize("paired", [True, False])
def test_merged_partition_summaries_give_the_comparison_of_all_rows(paired):
    y, pc, pp = rows(3000)
    want = evaluate.compare(y, pc, pp if paired else None, 0.5, **CI)
    assert_same(merged(y, pc, pp if paired else None), want)


def test_the_threshold_metrics_and_their_bootstrap_are_exactly_equal():
    y, pc, pp = rows(1500, seed=1)
    want, got = evaluate.compare(y, pc, pp, 0.5, **CI), merged(y, pc, pp)
    for metric in evaluate.THRESHOLD_METRICS:
        assert got[metric] == want[metric]


def test_each_model_cut_at_its_own_threshold_merges_to_the_local_comparison():
    y, pc, pp = rows(1500, seed=2)
    want, got = evaluate.compare(y, pc, pp, (0.3, 0.6), **CI), merged(y, pc, pp, (0.3, 0.6))
    assert_same(got, want)
    assert got["f1"] != merged(y, pc, pp)["f1"], "the cuts matter"


def test_one_class_rows_have_no_auc_as_the_local_engine():
    y, pc, pp = rows(400, one_class=True)
    got = merged(y, pc, pp)
    assert got["roc_auc"].candidate == evaluate.NO_INTERVAL
    assert_same(got, evaluate.compare(y, pc, pp, 0.5, **CI))


def test_slice_summaries_merge_per_value():
    y, pc, pp = rows(2000, seed=2)
    keys = np.array(["a", "b", "c"])[np.arange(2000) % 3]
    parts = [summaries.summarise_slices(y[s], pc[s], pp[s], keys[s], 0.5) for s in cuts(2000)]
    total = reduce(summaries.merge_slices, parts, {})
    assert sorted(total) == ["a", "b", "c"]
    for key, s in total.items():
        assert s.rows == int((keys == key).sum())
        assert np.array_equal(s.cells, np.bincount(
            4 * y[keys == key] + 2 * (pc[keys == key] >= 0.5) + (pp[keys == key] >= 0.5),
            minlength=8))


def test_psi_from_merged_bin_counts_on_the_reference_edges_equals_drift_psi():
    rng = np.random.default_rng(4)
    ref, cur = rng.normal(size=5000), np.round(rng.normal(0.3, 1.2, size=4000), 1)
    r = np.sort(ref)
    edges = np.unique(drift._quantiles_sorted(r, np.linspace(0, 1, 11)[1:-1]))
    counts = sum(summaries.bin_counts(cur[s], edges) for s in cuts(cur.size))
    got = summaries.psi_from_counts(summaries.bin_counts(ref, edges), counts, drift.PSI_EPS)
    assert got == pytest.approx(drift.psi(ref, cur, 10), abs=TOL)


def test_ks_from_merged_value_counts_is_the_exact_two_sample_statistic():
    rng = np.random.default_rng(5)
    ref, cur = np.round(rng.normal(size=3000), 2), np.round(rng.normal(0.1, 1, size=2500), 2)
    cur[::50] = np.nan
    vc = reduce(summaries.merge_value_counts, [summaries.value_counts(cur[s])
                                               for s in cuts(cur.size)])
    got = summaries.ks_statistic(summaries.value_counts(ref), vc)
    assert got == pytest.approx(stats.ks_2samp(ref, cur[np.isfinite(cur)]).statistic, abs=TOL)


def test_chi2_from_merged_category_counts_equals_the_contingency_statistic():
    rng = np.random.default_rng(6)
    ref = rng.choice(["x", "y", "z"], size=900, p=[0.5, 0.3, 0.2]).astype(object)
    cur = rng.choice(["x", "y", "z", "w"], size=700, p=[0.4, 0.3, 0.2, 0.1]).astype(object)
    cur[::30] = None
    parts = [summaries.category_counts(cur[s]) for s in cuts(cur.size)]
    counts = reduce(lambda a, b: {k: a.get(k, 0) + b.get(k, 0) for k in {*a, *b}}, parts)
    got = summaries.chi2_from_counts(summaries.category_counts(ref), counts)
    import pandas as pd
    want = drift._categorical("c", pd.Series(ref), pd.Series(cur))["statistic"]
    assert got == pytest.approx(want, rel=1e-12)


# --------------------------------------------------------------------------- AUC on a grid

def continuous(n: int, seed: int):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    return y, np.clip(0.3 * y + rng.random(n) * 0.7, 0, 1), np.clip(0.2 * y + rng.random(n), 0, 1)


def merged_on_grid(y, pc, pp, bins):
    parts = [summaries.summarise(y[s], pc[s], pp[s], 0.5, bins) for s in cuts(len(y))]
    total = summaries.merge_all(parts)
    spread = reduce(summaries.merge_spreads, [
        summaries.spread(y[s], pc[s], pp[s], summaries.components(total)) for s in cuts(len(y))])
    return total, summaries.compare(total, spread, **CI)


@pytest.mark.parametrize("bins", [16, 256, 2**20])
def test_the_auc_on_a_grid_is_within_its_stated_bound_of_the_exact_auc(bins):
    y, pc, pp = continuous(20_000, seed=8)
    want = evaluate.compare(y, pc, pp, 0.5, **CI)["roc_auc"]
    total, got = merged_on_grid(y, pc, pp, bins)
    bound = summaries.auc_error_bound(total)
    for side in ("candidate", "production", "delta"):
        error = abs(getattr(got["roc_auc"], side).value - getattr(want, side).value)
        assert error <= bound[side] + 1e-12, (side, error, bound[side])
    assert bound["candidate"] < 1.0 / bins, "each bin holds about 1/bins of the pairs"
    assert bound["delta"] == bound["candidate"] + bound["production"]


def test_on_a_fine_grid_the_auc_and_its_delong_ci_match_the_exact_ones():
    y, pc, pp = continuous(20_000, seed=9)
    want = evaluate.compare(y, pc, pp, 0.5, **CI)["roc_auc"]
    _, got = merged_on_grid(y, pc, pp, 2**20)
    for side in ("candidate", "production", "delta"):
        for field in ("value", "ci_low", "ci_high"):
            assert getattr(getattr(got["roc_auc"], side), field) == pytest.approx(
                getattr(getattr(want, side), field), abs=1e-4), (side, field)


def test_the_bound_is_reached_when_every_score_shares_one_bin():
    """All positives above all negatives, in one bin of two: exact AUC 1, the grid's 1/2, and
    the bound says 1/2."""
    y = np.array([0, 0, 0, 1, 1])
    p = np.array([0.5, 0.6, 0.7, 0.8, 0.9])
    s = summaries.summarise(y, p, None, 0.5, bins=2)
    assert summaries.compare(s, None, **CI)["roc_auc"].candidate.value == 0.5
    assert summaries.auc_error_bound(s) == {"candidate": 0.5, "production": None, "delta": None}
    assert evaluate.compare(y, p, None, 0.5, **CI)["roc_auc"].candidate.value == 1.0


def test_grid_counts_stay_within_the_bins_whatever_the_rows():
    y, pc, pp = continuous(50_000, seed=10)
    total, _ = merged_on_grid(y, pc, pp, 1024)
    assert all(s.values.size <= 1024 for s in total.scores)
    assert all(int(s.neg.sum() + s.pos.sum()) == 50_000 for s in total.scores)
    exact = summaries.summarise(y, pc, pp, 0.5)
    assert summaries.auc_error_bound(exact) == {"candidate": 0.0, "production": 0.0,
                                                "delta": 0.0}


def test_summaries_of_distinct_scores_and_of_a_grid_do_not_merge():
    y, pc, pp = continuous(100, seed=11)
    with pytest.raises(ValueError, match="grid"):
        summaries.merge(summaries.summarise(y, pc, pp, 0.5),
                        summaries.summarise(y, pc, pp, 0.5, bins=64))
