"""The backtest of update policies: test-then-train, each policy's update rule, finite outputs,
and `iterate backtest --params PATH` on a user's own data with other column names."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import PARAMS_FILE, SOURCE, raw_params, shipped_params

from iterate.commands import backtest as backtest_command
from iterate.core import backtest, gate, training
from iterate.errors import IterateError, ParamsError
from iterate.params import SGD_LOGISTIC, Column, Contract, Drift, Evaluate, Model

SHIPPED = shipped_params()
CONTRACT = Contract(time_column="ts", label="y", columns={
    "x1": Column("float"), "x2": Column("float", nullable=True), "colour": Column("category")})
SETTINGS = backtest.Settings(
    contract=CONTRACT,
    model=Model(estimator=SGD_LOGISTIC.estimator, params=SGD_LOGISTIC.params, threshold=0.5,
                seed=0),
    gate=SHIPPED.gate,  # roc_auc, f1 and log_loss rules; no slice column here
    evaluate=Evaluate(slice_column=None, resamples=200),
    drift=Drift(),
    warmup=3, window=3, every=2, reference_rows=1000)


def stream(n: int = 10, rows: int = 400, *, seed: int = 0, shift_from: int | None = None,
           flipped: tuple[int, ...] = (), one_class: tuple[int, ...] = ()) -> list[backtest.Batch]:
    """Daily batches where y depends on x1, x2 and colour.

    ``shift_from``: from that batch on, x1 is observed 6 standard deviations off (the label
    still follows the true x1); ``flipped``: those batches' labels follow the opposite rule;
    ``one_class``: those batches hold label 0 only.
    """
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
        colour = rng.choice(np.array(["red", "green", "blue"]), rows)
        logit = 2.0 * x1 - x2 + (colour == "red") - 1.0
        if i in flipped:
            logit = -logit
        y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
        if i in one_class:
            y[:] = 0
        seen_x1 = x1 + (6.0 if shift_from is not None and i >= shift_from else 0.0)
        day = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i)
        times = day + pd.to_timedelta(np.sort(rng.integers(0, 86_400, rows)), unit="s")
        frame = pd.DataFrame({"ts": times, "x1": seen_x1, "x2": x2, "colour": colour, "y": y})
        out.append(backtest.Batch(i, f"day-{i:02d}", day.strftime("%Y-%m-%d"), frame,
                                  0 if i in one_class else None))
    return out


def run(batches, **changes) -> backtest.Result:
    return backtest.run(batches, dataclasses.replace(SETTINGS, **changes))


@pytest.fixture
def calls(monkeypatch):
    """Count full and incremental fits (and the rows of each partial_fit)."""
    seen = {"full": 0, "incremental": []}
    fit_full, fit_incremental = training.fit_full, training.fit_incremental

    def counting_full(model, contract, x, y):
        seen["full"] += 1
        return fit_full(model, contract, x, y)

    def counting_incremental(pipeline, x, y):
        seen["incremental"].append(len(x))
        return fit_incremental(pipeline, x, y)

    monkeypatch.setattr(training, "fit_full", counting_full)
    monkeypatch.setattr(training, "fit_incremental", counting_incremental)
    return seen


# --------------------------------------------------------------------------- test-then-train


def test_every_policy_scores_each_batch_with_a_model_trained_only_on_earlier_batches():
    result = run(stream(10))
    assert set(result.policies) == set(backtest.POLICIES)
    for name, pr in result.policies.items():
        assert [s.batch for s in pr.steps] == list(range(3, 10)), name
        for step in pr.steps:
            assert step.trained, name
            assert max(step.trained) < step.batch, f"{name} scored batch {step.batch} with a " \
                f"model trained on {step.trained}"
    # and each batch does become training data once scored
    incremental = result.policies["incremental"].steps
    assert all(s.trained == tuple(range(s.batch)) for s in incremental)
    every = result.policies["full-every-k"].steps
    refit = next(i for i, s in enumerate(every) if s.action == backtest.REFIT)
    assert every[refit + 1].trained == (2, 3, 4) == (every[refit].batch - 2, every[refit].batch - 1,
                                                    every[refit].batch)


def test_the_gated_candidate_is_judged_on_a_batch_it_did_not_train_on_and_serves_from_the_next():
    steps = run(stream(10), policies=("gated",)).policies["gated"].steps
    for before, after in zip(steps, steps[1:], strict=False):
        if before.action == backtest.PROMOTE:
            assert after.trained == (before.batch - 3, before.batch - 2, before.batch - 1)
        else:
            assert after.model == before.model


# --------------------------------------------------------------------------- the policies


def test_frozen_never_refits_after_the_first_fit(calls):
    pr = run(stream(10), policies=("frozen",)).policies["frozen"]
    assert calls["full"] == 1 and calls["incremental"] == []
    assert {s.action for s in pr.steps} == {backtest.KEEP}
    assert {s.model for s in pr.steps} == {"full[0:3]"}
    assert pr.refits == pr.promotions == 0
    assert pr.rows_trained == 3 * 400


def test_full_every_k_refits_exactly_every_k_batches(calls):
    pr = run(stream(13), policies=("full-every-k",), every=3).policies["full-every-k"]
    refits = [i for i, s in enumerate(pr.steps) if s.action == backtest.REFIT]
    assert refits == [2, 5, 8]  # after the 3rd, 6th and 9th scored batch of 10
    assert calls["full"] == 1 + 3
    assert pr.refits == 3 and pr.rows_trained == 3 * 400 + 3 * (3 * 400)


def test_incremental_calls_partial_fit_once_per_batch_and_never_refits(calls):
    pr = run(stream(10), policies=("incremental",)).policies["incremental"]
    assert calls["full"] == 1, "only the first fit is a full fit"
    assert calls["incremental"] == [400] * 7, "one partial_fit per scored batch, on that batch"
    assert {s.action for s in pr.steps} == {backtest.PARTIAL_FIT}
    assert pr.refits == 0 and pr.partial_fits == 7


def test_incremental_is_refused_for_a_model_without_partial_fit():
    hist = dataclasses.replace(SETTINGS.model, estimator=SHIPPED.model.estimator,
                               params={"max_iter": 5})
    with pytest.raises(IterateError) as refused:
        run(stream(5), model=hist)
    message = str(refused.value)
    assert "\n" not in message and message.startswith("backtest.model: the incremental policy")
    assert "HistGradientBoostingClassifier" in message and "partial_fit" in message
    run(stream(5), model=hist, policies=("frozen", "full-every-k"))


def test_drift_triggered_refits_on_a_severe_shift_and_not_on_a_stable_stream():
    stable = run(stream(10), policies=("drift-triggered",)).policies["drift-triggered"]
    assert stable.refits == 0, [s.note for s in stable.steps]
    shifted = run(stream(10, shift_from=6),
                  policies=("drift-triggered",)).policies["drift-triggered"]
    actions = {s.batch: s.action for s in shifted.steps}
    assert [b for b, a in actions.items() if a == backtest.REFIT][0] == 6
    assert all(actions[b] == backtest.KEEP for b in (3, 4, 5))
    assert "x1" in next(s.note for s in shifted.steps if s.batch == 6)


def test_gated_does_not_promote_a_candidate_trained_on_flipped_labels():
    # batches 2 and 3 have flipped labels: on batch 4 the candidate trained on them is far worse
    steps = {s.batch: s for s in run(stream(8, flipped=(2, 3)), policies=("gated",), warmup=2,
                                     window=2).policies["gated"].steps}
    assert steps[4].verdict == gate.REJECT and steps[4].action == backtest.REJECT
    assert steps[5].model != "full[2:4]", "the rejected candidate went into service"


def test_gated_promotes_only_when_the_gate_passes():
    # the rule flips for good from batch 3: the candidate trained on the new rule wins on batch 4
    result = run(stream(8, flipped=(3, 4, 5, 6, 7)), policies=("gated",), warmup=2, window=2)
    steps = result.policies["gated"].steps
    for before, after in zip(steps, steps[1:], strict=False):
        promoted = before.verdict in gate.PROMOTABLE
        assert (before.action == backtest.PROMOTE) == promoted
        assert (after.model != before.model) == promoted
    by_batch = {s.batch: s for s in steps}
    assert by_batch[4].action == backtest.PROMOTE and by_batch[5].model == "full[2:4]"
    assert result.policies["gated"].promotions >= 1


def test_fitting_ahead_in_worker_processes_gives_the_same_results():
    batches = stream(9)
    kept = ("full-every-k", "gated")
    alone, ahead = run(batches, policies=kept), run(batches, policies=kept, jobs=1)
    assert alone.fitted_ahead == 0 and ahead.fitted_ahead > 0
    assert alone.distinct_fits == ahead.distinct_fits
    for name in kept:
        assert [(s.model, s.metrics, s.action) for s in alone.policies[name].steps] == \
            [(s.model, s.metrics, s.action) for s in ahead.policies[name].steps]


# --------------------------------------------------------------------------- outputs


def test_the_summary_is_finite_json_even_with_a_one_class_batch():
    result = run(stream(9, one_class=(5,)))
    summary = backtest.summary(result)
    text = json.dumps(summary, allow_nan=False)
    assert "NaN" not in text and "Infinity" not in text
    for name, info in summary["policies"].items():
        assert all(v is not None for v in info["mean"].values()), name
        by_batch = {e["batch"]: e for e in info["series"]}
        assert by_batch[6]["roc_auc"] is None, "ROC AUC of a one-class batch is undefined"
        assert len(info["series"]) == 6
    rows = backtest.frame(result)
    assert len(rows) == len(backtest.POLICIES) * 6 and set(rows["policy"]) == set(backtest.POLICIES)


def test_a_one_class_batch_is_skipped_as_a_holdout_by_every_policy_and_trained_on_later():
    result = run(stream(9, one_class=(5,)))

    for name, pr in result.policies.items():
        step = next(s for s in pr.steps if s.batch == 5)
        assert set(step.metrics.values()) == {None}, f"{name} scored a one-class batch"
    gated = next(s for s in result.policies["gated"].steps if s.batch == 5)
    assert (gated.action, gated.verdict) == (backtest.SKIP, gate.SKIP)
    assert gated.note == "skipped: holdout holds one class (0) only; it trains later models"
    assert result.policies["gated"].refits == 5, "a skipped batch judges no candidate"
    later = [s for pr in result.policies.values() for s in pr.steps if s.batch > 5]
    assert any(5 in s.trained for s in later), "the one-class batch is training data later"
    summary = backtest.summary(result)
    assert summary["batches"]["scored"] == 5
    assert summary["batches"]["one_class"] == [{"batch": 6, "id": "day-05", "class": 0}]
    means = {name: pr.mean("f1") for name, pr in result.policies.items()}
    assert all(m > 0 for m in means.values()), "a skipped batch's F1 of 0 is not averaged in"


def test_a_history_whose_scorable_batches_all_hold_one_class_is_refused_saying_so():
    with pytest.raises(Exception, match="holds one class only, so none can be scored"):
        run(stream(5, one_class=(3, 4)))


def test_a_history_no_longer_than_the_warmup_is_refused_saying_so():
    with pytest.raises(Exception, match="backtest.warmup"):
        run(stream(3))


def test_real_weeks_start_every_policy_from_the_same_model_and_a_refit_beats_chance():
    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False, na_values=[""], nrows=36_000)
    batches, skipped = backtest.cut(raw, SHIPPED.contract, SHIPPED.replay.batch_days)
    assert not skipped and [b.id[:10] for b in batches[:2]] == ["2013-01-01", "2013-01-08"]
    bt = backtest_command.Backtest(warmup=3, window=3, every=1, jobs=0)
    s = backtest_command.settings(SHIPPED, bt)
    result = backtest.run(batches[:5], s)
    first = {pr.steps[0].metrics["roc_auc"] for pr in result.policies.values()}
    assert len(first) == 1, "every policy scores the first week with the same first fit"
    assert all(step.metrics["roc_auc"] > 0.55
               for step in result.policies["full-every-k"].steps)


# --------------------------------------------------------------------------- the command


def write_own_data(folder: Path) -> Path:
    """Twelve days of a shop's visits (2 numbers, 1 category), and a params file for them."""
    rng = np.random.default_rng(7)
    n = 12 * 300
    when = pd.Timestamp("2023-05-01", tz="UTC") + pd.to_timedelta(
        np.sort(rng.integers(0, 12 * 86_400, n)), unit="s")
    amount, visits = rng.gamma(2.0, 20.0, n), rng.integers(0, 30, n)
    channel = rng.choice(np.array(["web", "app", "store"]), n)
    logit = 0.03 * amount + 0.1 * visits - 2.0 + 0.8 * (channel == "app")
    bought = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    pd.DataFrame({"when": when.strftime("%Y-%m-%dT%H:%M:%SZ"), "amount": amount.round(2),
                  "visits": visits, "channel": channel, "bought": bought}
                 ).to_csv(folder / "visits.csv", index=False)
    raw = raw_params()
    raw["replay"] = {"source": "visits.csv", "batch_days": 1}
    raw["contract"] = {"time_column": "when", "label": "bought", "columns": {
        "amount": {"dtype": "float", "min": 0}, "visits": {"dtype": "int", "min": 0},
        "channel": {"dtype": "category"}}}
    raw["evaluate"]["slice_column"] = "channel"
    raw["evaluate"]["min_slice_rows"] = 50
    raw["backtest"] = {"warmup": 3, "window": 4, "every": 2, "jobs": 0}
    path = folder / "my-params.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return path


def test_backtest_runs_on_own_data_described_by_a_params_file(tmp_path, monkeypatch, capsys):
    path = write_own_data(tmp_path)
    monkeypatch.chdir(tmp_path)
    assert backtest_command.main(["--params", path.name]) == 0

    summary = json.loads((tmp_path / "metrics/backtest.json").read_text())
    assert summary["source"] == "visits.csv" and summary["batch_days"] == 1
    assert summary["batches"]["total"] == 12 and summary["batches"]["scored"] == 9
    assert list(summary["policies"]) == list(backtest.POLICIES)
    for info in summary["policies"].values():
        assert len(info["series"]) == 9 and info["mean"]["roc_auc"] > 0.6
    assert summary["policies"]["full-every-k"]["refits"] == 4
    rows = pd.read_csv(tmp_path / "plots/backtest/metrics.csv")
    assert len(rows) == len(backtest.POLICIES) * 9
    assert {"batch", "start", "policy", "roc_auc"} <= set(rows.columns)
    for name in backtest.POLICIES:
        assert len(pd.read_csv(tmp_path / f"plots/backtest/{name}.csv")) == 9
    png = (tmp_path / "plots/backtest/backtest.png").read_bytes()
    assert png.startswith(b"\x89PNG") and len(png) > 20_000
    out = capsys.readouterr().out
    assert "12 batches of 1 day(s) from visits.csv" in out and "drift-triggered" in out


def test_backtest_skips_a_one_class_batch_of_own_data_and_says_so(tmp_path, monkeypatch,
                                                                   capsys):
    path = write_own_data(tmp_path)
    visits = pd.read_csv(tmp_path / "visits.csv")
    visits.loc[visits["when"].str.startswith("2023-05-06"), "bought"] = 0
    visits.to_csv(tmp_path / "visits.csv", index=False)
    monkeypatch.chdir(tmp_path)

    assert backtest_command.main(["--params", path.name]) == 0

    out = capsys.readouterr().out
    assert ("  batch 6 (2023-05-06_2023-05-06): skipped: holdout holds one class (0) only; it "
            "trains later models") in out
    assert "8 scored batches" in out and "1 batch(es) of one class skipped" in out
    summary = json.loads((tmp_path / "metrics/backtest.json").read_text())
    assert summary["batches"]["scored"] == 8
    gated = {e["batch"]: e for e in summary["policies"]["gated"]["series"]}
    assert gated[6]["verdict"] == "skip" and gated[6]["skipped"].startswith("skipped: holdout")


def test_backtest_prints_each_refused_batch_before_the_summary_error_naming_min_rows(
        tmp_path, monkeypatch, capsys):
    path = write_own_data(tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["contract"]["min_rows"] = 400  # a day holds about 300 rows
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    monkeypatch.chdir(tmp_path)

    assert backtest_command.main(["--params", path.name]) == 2

    out, err = capsys.readouterr()
    refused = [line for line in out.splitlines() if line.startswith("  refused source batch")]
    assert len(refused) == 12
    assert "fewer than contract.min_rows (400)" in refused[0]
    assert err.count("\n") == 1 and "0 batch(es) in the history" in err
    assert "contract.min_rows" in err and "shorter batches" not in err


def test_too_few_batches_for_the_warmup_advises_shorter_batches_only_within_min_rows():
    with pytest.raises(Exception, match=r"keeps at least contract\.min_rows \(50\) good rows"):
        backtest.check(dataclasses.replace(SETTINGS, contract=dataclasses.replace(
            CONTRACT, min_rows=50)), 2)


def test_backtest_section_keys_are_checked_naming_the_key(tmp_path):
    raw = raw_params()
    raw["backtest"] = {"evry": 3}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"backtest\.evry: unknown key"):
        backtest_command.load(path)
    raw["backtest"] = {"model": "sgd_logistic"}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"backtest\.model: expected a mapping"):
        backtest_command.load(path)
    raw["backtest"] = {"model": {"estimator": "SGDClassifier"}}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ParamsError, match=r"backtest\.model\.estimator: 'SGDClassifier' is not "
                                          "a dotted path"):
        backtest_command.load(path)


def test_a_null_backtest_model_is_the_model_section(tmp_path):
    raw = raw_params()
    raw["backtest"] = {"model": None, "policies": ["frozen"]}
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    p, bt = backtest_command.load(path)
    assert backtest_command.settings(p, bt).model == p.model


def test_a_params_file_without_a_backtest_section_gets_the_defaults(tmp_path):
    raw = raw_params()
    raw.pop("backtest", None)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(raw))
    p, bt = backtest_command.load(path)
    assert bt == backtest_command.Backtest() and bt.model == SGD_LOGISTIC
    s = backtest_command.settings(p, bt)
    assert (s.model.estimator, s.model.params) == (SGD_LOGISTIC.estimator, SGD_LOGISTIC.params)
    assert (s.model.threshold, s.model.seed) == (p.model.threshold, p.model.seed)
    assert s.window == p.split.window
    assert s.policies == backtest.POLICIES


def test_the_shipped_params_file_loads_for_the_backtest():
    p, bt = backtest_command.load(PARAMS_FILE)
    assert backtest_command.settings(p, bt).model.estimator == bt.model.estimator


def test_a_missing_source_is_one_error_line(tmp_path, monkeypatch, capsys):
    path = write_own_data(tmp_path)
    (tmp_path / "visits.csv").unlink()
    monkeypatch.chdir(tmp_path)
    assert backtest_command.main(["--params", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: replay.source: visits.csv not found") and err.count("\n") == 1
    assert not (tmp_path / "metrics").exists()


@pytest.mark.parametrize("argv, expected", [
    (["backtest"], "params.yaml"),
    (["backtest", "--params", "mine.yaml"], "mine.yaml"),
    (["--params", "top.yaml", "backtest"], "top.yaml"),
])
def test_the_cli_registers_backtest_with_params_on_either_side(argv, expected):
    from iterate.commands import cli

    args = cli.build_parser().parse_args(argv)
    assert args.func is backtest_command.cmd_backtest and args.params == Path(expected)


class FakeTerminal:
    def __init__(self, tty: bool):
        self.tty, self.text = tty, ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> None:
        self.text += text

    def flush(self) -> None:
        pass


def test_progress_is_one_redrawn_line_on_a_terminal_and_silent_elsewhere():
    batch = stream(1)[0]
    for tty in (True, False):
        out = FakeTerminal(tty)
        progress = backtest_command.Progress(out)
        for done in (1, 2, 3):
            progress(done, 3, batch)
        if tty:
            assert "\n" not in out.text[:-1] and out.text.endswith("\n"), "one redrawn line"
            assert "\r" in out.text and "3/3" in out.text and batch.start in out.text
            assert "<00:00" in out.text, "the time left"
        else:
            assert out.text == ""


def concept_stream(kind: str, n: int = 40, change: int = 20, seed: int = 0) -> list[backtest.Batch]:
    """Daily batches of 30 to 300 rows whose concept changes from batch ``change`` on: the
    effects of x1 and x2 reverse at once (``abrupt``) or over 10 batches (``gradual``); the
    inputs keep their distribution, so only the labels tell."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rows = int(rng.integers(30, 301))
        x1, x2 = rng.normal(size=rows), rng.normal(size=rows)
        colour = rng.choice(np.array(["red", "green", "blue"]), rows)
        w = 0.0 if i < change else 1.0 if kind == "abrupt" else min(1.0, (i - change + 1) / 10)
        logit = (2.0 - 4.0 * w) * x1 - (1.0 - 2.0 * w) * x2 + (colour == "red") - 0.5
        y = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype("int64")
        day = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i)
        times = day + pd.to_timedelta(np.sort(rng.integers(0, 86_400, rows)), unit="s")
        frame = pd.DataFrame({"ts": times, "x1": x1, "x2": x2, "colour": colour, "y": y})
        out.append(backtest.Batch(i, f"day-{i:02d}", day.strftime("%Y-%m-%d"), frame,
                                  int(y[0]) if len(set(y)) == 1 else None))
    return out


def loop_against_the_simple_policies(batches, s: backtest.Settings):
    """The loop policy with the shipped ``trigger``, ``gate`` and ``monitor``, and the best
    mean ROC AUC of frozen, a full refit every batch and one every 4 batches."""
    shipped = shipped_params()
    s = dataclasses.replace(s, trigger=shipped.trigger, gate=shipped.gate,
                            monitor=shipped.monitor)
    result = backtest.run(batches, dataclasses.replace(
        s, every=1, policies=("frozen", "full-every-k", "loop")))
    every_4 = backtest.run(batches, dataclasses.replace(s, every=4, policies=("full-every-k",)))
    best = max(result.policies["frozen"].mean("roc_auc"),
               result.policies["full-every-k"].mean("roc_auc"),
               every_4.policies["full-every-k"].mean("roc_auc"))
    return result.policies["loop"], result.policies["full-every-k"], best


def on_a_stream(kind: str):
    return loop_against_the_simple_policies(
        concept_stream(kind), dataclasses.replace(SETTINGS, warmup=4, window=8))


def test_after_an_abrupt_change_the_loop_matches_the_best_with_a_third_of_the_fits_in_2_batches():
    loop, every_batch, best = on_a_stream("abrupt")
    assert loop.mean("roc_auc") >= best - 0.005
    assert loop.refits <= every_batch.refits / 3
    assert backtest.batches_to_recover(loop, 20) <= 2


def test_under_a_gradual_change_the_loop_matches_the_best_with_a_third_of_the_fits():
    loop, every_batch, best = on_a_stream("gradual")
    assert loop.mean("roc_auc") >= best - 0.005
    assert loop.refits <= every_batch.refits / 3


@pytest.mark.slow
def test_on_the_embedded_weeks_the_loop_matches_the_best_with_a_third_of_the_fits():
    """All 53 weeks with the shipped params.yaml's backtest section (about 20 s of fits)."""
    p, bt = backtest_command.load(PARAMS_FILE)
    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False, na_values=[""])
    batches, _ = backtest.cut(raw, p.contract, p.replay.batch_days)
    loop, every_batch, best = loop_against_the_simple_policies(
        batches, backtest_command.settings(p, dataclasses.replace(bt, jobs=0)))
    assert len(loop.steps) == 49
    assert loop.mean("roc_auc") >= best - 0.005
    assert loop.refits <= every_batch.refits / 3
