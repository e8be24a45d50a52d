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
