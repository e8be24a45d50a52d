"""Model settings that stay calibrated: the SGD logistic settings the docs propose (and the
backtest uses) never give a log loss far above predicting the base rate, on every batch of the
embedded data and of a generated small-batch dataset, and missing-value flags stay 0/1."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import ROOT, sgd_model, shipped_params
from sklearn.metrics import log_loss

from iterate import params
from iterate.core import contract as contract_module
from iterate.core import training
from iterate.repo import landing

WINDOW = 8  # split.window's default: a refit on up to this many batches before the holdout
SMALL = params.Contract(time_column="t", label="label", columns={
    "a": params.Column("float"), "b": params.Column("float", nullable=True),
    "c": params.Column("category")})


def small_batches(seed: int, batches: int = 40, rows: int = 30) -> pd.DataFrame:
    """30-row batches whose label follows a logistic model of a, b and c; b is missing in 5%
    of the rows and in the whole last batch (like the embedded data's weatherless week)."""
    rng = np.random.default_rng(seed)
    n = batches * rows
    a, b = rng.normal(50, 20, n), rng.normal(0, 1, n)
    c = rng.choice(list("xyz"), n, p=[0.6, 0.3, 0.1])
    logit = -1.0 + 0.04 * (a - 50) + 0.8 * b + np.where(c == "z", 1.0, 0.0)
    label = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    b[rng.random(n) < 0.05] = np.nan
    b[-rows:] = np.nan
    return pd.DataFrame({"a": a, "b": b, "c": c, "label": label, "batch": np.arange(n) // rows})


def ratios(frame: pd.DataFrame, contract: params.Contract, model: params.Model,
           first: int = 2) -> list[float]:
    """Per holdout batch (from ``first`` on): the log loss of a full refit on up to WINDOW
    batches before it, over the log loss of predicting their base rate."""
    ids, out = sorted(frame["batch"].unique()), []
    for i in range(first, len(ids)):
        train = frame[frame["batch"].isin(ids[max(0, i - WINDOW):i])]
        holdout = frame[frame["batch"] == ids[i]]
        y, truth = train[contract.label].to_numpy(), holdout[contract.label]
        if len(np.unique(y)) < 2 or truth.nunique() < 2:
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pipeline = training.fit_full(model, contract, train[contract.features], y)
        proba = pipeline.predict_proba(holdout[contract.features])[:, 1]
        base = np.full(len(holdout), y.mean())
        out.append(log_loss(truth, proba, labels=[0, 1]) / log_loss(truth, base, labels=[0, 1]))
    return out


def test_the_docs_example_is_the_backtest_model_of_params_py_and_params_yaml():
    text = (ROOT / "docs" / "make-it-yours.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(model:\n  estimator: sklearn.linear_model.SGDClassifier.*?)```",
                      text, re.S)
    example = yaml.safe_load(block.group(1))["model"]
    assert example == {"estimator": params.SGD_LOGISTIC.estimator,
                       "params": params.SGD_LOGISTIC.params}
    assert shipped_params().backtest.model == params.SGD_LOGISTIC


def test_missing_value_flags_are_zero_or_one_never_standardised():
    """Before: the flag of a value missing in 1 of 500 training rows was standardised to
    z = 22 in a batch where it is always missing."""
    frame = small_batches(0).iloc[:500].assign(b=lambda f: f["b"].fillna(0.0))
    frame.loc[3, "b"] = np.nan
    preprocessing = training.build(sgd_model(), SMALL)[:-1].fit(frame[SMALL.features])
    without_b = frame.assign(b=np.nan)[SMALL.features]
    out = preprocessing.transform(without_b)
    out = out.toarray() if hasattr(out, "toarray") else out
    names = list(preprocessing.get_feature_names_out())
    flag = out[:, names.index("missing__missingindicator_b")]
    assert set(np.unique(flag)) == {1.0}
    assert np.abs(out).max() < 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sgd_logistic_stays_near_the_base_rate_log_loss_on_every_30_row_batch(seed):
    """On 30-row holdouts the true model itself is worse than the base rate on 2-5 of 38
    batches, by up to 1.24 times; the former settings (alpha 0.0001, 20 epochs) reached 3.8-7.0
    times and were worse on 34-35 of them."""
    found = ratios(small_batches(seed), SMALL, sgd_model())
    assert len(found) >= 35
    assert max(found) <= 1.25, found
    assert np.median(found) < 0.9  # the max above covers the last batch, where b is missing


@pytest.mark.slow
def test_sgd_logistic_stays_near_the_base_rate_log_loss_on_every_embedded_week():
    """Weekly batches of the embedded data, each a holdout after a refit on the weeks before:
    at most 1.10 times the base rate's log loss (1.064 measured; worse than it only in weeks
    where the late share moved, as an unregularised LogisticRegression is too), below it in the
    median, and below it on the last, weatherless, week."""
    p = shipped_params()
    raw = landing.read_table(Path(ROOT / p.replay.source))
    typed = contract_module.validate(raw, p.contract).good
    time = typed[p.contract.time_column]
    weeks = typed.assign(batch=(time - time.min()).dt.days // 7)
    assert weeks.loc[weeks["batch"] == weeks["batch"].max(), "temp"].isna().all()

    found = ratios(weeks, p.contract, sgd_model())

    assert len(found) >= 50
    assert max(found) <= 1.10, found
    assert np.median(found) < 0.95
    assert found[-1] < 1.0, "the weatherless last week"
