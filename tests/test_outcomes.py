"""Labels that arrive later (iterate.core.outcomes, iterate.repo.outcomes): the join to the
prediction log, each reason a label is quarantined, the landing through the data contract, and
the realised performance per served version and period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from helpers import LABEL, TIME, shipped_params, week

from iterate.core import contract as contract_module
from iterate.core import evaluate, outcomes, report
from iterate.errors import ContractError
from iterate.repo import outcomes as labelling
from iterate.repo import predlog, store
from iterate.repo.layout import LABELS, QUARANTINE, RAW

P = shipped_params()
C = P.contract
SCORED = datetime(2026, 11, 30, 12, tzinfo=UTC)
NO_LABELS = pd.Series(dtype=str)


def logged(rows: pd.DataFrame, version: str = "1.0.0", scored_at: datetime = SCORED,
           seed: int = 0) -> pd.DataFrame:
    """The log's rows of ``rows`` (source rows as text) as scoring writes them: typed features,
    the time column as given, a score."""
    features = contract_module.check_features(rows, C.columns, "test")
    score = np.random.default_rng(seed).uniform(size=len(rows)).round(6)
    return predlog.rows(pd.concat([features, rows[[TIME]]], axis=1), score, version,
                        predlog.new_ids(len(rows)), scored_at)


def label_file(log: pd.DataFrame, source: pd.DataFrame, **times) -> pd.DataFrame:
    """The labels of the logged ``source`` rows, as a user's CSV gives them (text)."""
    frame = pd.DataFrame({"prediction_id": log["prediction_id"], LABEL: source[LABEL]})
    for name, values in times.items():
        frame[name] = values
    return frame


def join(labels, log, labelled=NO_LABELS, after=None):
    return outcomes.join(labels, log, C, labelled, time_column="labelled_at", after=after,
                         where="labels.csv")


@pytest.fixture
def source() -> pd.DataFrame:
    return week(2, step=40).head(80)


def test_the_joined_rows_are_the_logged_contract_columns_with_the_files_label(source):
    log = logged(source)
    labels = label_file(log, source).iloc[::-1]  # any order

    joined = join(labels, log)

    assert joined.bad.empty
    assert list(joined.rows.columns) == contract_module.required_columns(C)
    by_id = log.set_index("prediction_id")
    back = by_id.loc[joined.ids]
    assert list(joined.rows[TIME]) == list(back[TIME])
    np.testing.assert_array_equal(joined.rows["distance"], back["distance"])
    assert list(joined.rows[LABEL]) == list(labels[LABEL])
    assert list(joined.source_rows) == list(range(1, len(labels) + 1))
    valid = contract_module.validate(joined.rows, C)
    assert valid.bad.empty, "the joined rows pass the contract as the source rows do"
    pd.testing.assert_frame_equal(valid.good, contract_module.validate(source.iloc[::-1], C).good)


def test_a_shadow_models_copy_of_a_prediction_is_never_the_row_that_lands(source):
    served = logged(source)
    shadow = served.assign(model_version="shadow-0123456789ab", distance=-1.0)
    labels = label_file(served, source)

    joined = join(labels, pd.concat([shadow, served], ignore_index=True))  # shadow's part first

    assert joined.bad.empty
    assert (joined.rows["distance"] >= 0).all(), "the served prediction's row, not the shadow's"


def reasons(joined) -> dict[int, str]:
    return dict(zip(joined.bad["source_row"], joined.bad["reason"], strict=True))


def test_an_unknown_or_missing_prediction_id_is_quarantined(source):
    log = logged(source)
    labels = label_file(log, source)
    labels.loc[2, "prediction_id"] = "0" * 32
    labels.loc[5, "prediction_id"] = ""

    joined = join(labels, log)

    assert reasons(joined) == {3: "prediction_id: not in the prediction log (unknown ID, or its "
                                  "prediction was never logged)",
                               6: "prediction_id: missing"}
    assert len(joined.rows) == len(labels) - 2
    assert "0" * 32 not in set(joined.ids)


def test_a_label_repeated_in_the_file_keeps_the_first_and_a_conflict_keeps_none(source):
    log = logged(source)
    labels = label_file(log, source)
    same, other = labels.iloc[3].copy(), labels.iloc[7].copy()
    other[LABEL] = "1" if other[LABEL] == "0" else "0"
    labels = pd.concat([labels, same.to_frame().T, other.to_frame().T], ignore_index=True)

    joined = join(labels, log)

    n = len(source)
    assert reasons(joined) == {
        n + 1: "prediction_id: a duplicate of row 4",
        8: f"prediction_id: conflicting labels on rows 8, {n + 2}; keep the true one",
        n + 2: f"prediction_id: conflicting labels on rows 8, {n + 2}; keep the true one"}
    assert list(joined.ids).count(same["prediction_id"]) == 1
    assert other["prediction_id"] not in set(joined.ids)


def test_a_prediction_labelled_before_is_quarantined_naming_its_batch(source):
    log = logged(source)
    labels = label_file(log, source)
    before = pd.Series({labels.loc[0, "prediction_id"]: "2013-01-01_2013-01-07"})

    joined = join(labels, log, labelled=before)

    assert reasons(joined) == {1: "prediction_id: labelled before (landed in batch "
                                  "2013-01-01_2013-01-07)"}


def test_a_label_timed_before_its_prediction_or_not_a_time_is_quarantined(source):
    log = logged(source)
    later = (SCORED + timedelta(days=3)).isoformat()
    times = [later] * len(source)
    times[0] = (SCORED - timedelta(hours=1)).isoformat()
    times[1] = "yesterday"
    times[2] = ""  # no outcome time: nothing to check
    labels = label_file(log, source, labelled_at=times)

    joined = join(labels, log)

    assert reasons(joined) == {
        1: "labelled_at: 2026-11-30T11:00:00+00:00 is before the prediction was scored "
           "(2026-11-30T12:00:00+00:00)",
        2: "labelled_at: not an ISO 8601 date or timestamp"}
    assert len(joined.rows) == len(source) - 2


def test_a_row_not_newer_than_the_newest_landed_batch_is_quarantined(source):
    log = logged(source)
    times = contract_module.parse_times(source[TIME])[0]
    after = times.iloc[9].isoformat()

    joined = join(label_file(log, source), log, after=after)

    stale = set(np.flatnonzero((times <= times.iloc[9]).to_numpy()) + 1)
    assert set(joined.bad["source_row"]) == stale
    assert all("not after the newest landed batch" in r for r in joined.bad["reason"])
    assert len(joined.rows) == len(source) - len(stale)


def test_the_quarantined_rows_keep_the_files_columns_its_row_and_a_reason(source):
    log = logged(source)
    labels = label_file(log, source)
    labels.loc[4, "prediction_id"] = "nope"

    bad = join(labels, log).bad

    assert list(bad.columns) == ["source_row", "prediction_id", LABEL, "reason"]
    assert bad.iloc[0].tolist()[:3] == [5, "nope", labels.loc[4, LABEL]]


@pytest.mark.parametrize("change, problem", [
    (lambda f: f.drop(columns=["prediction_id"]), "missing column(s) 'prediction_id'"),
    (lambda f: f.drop(columns=[LABEL]), f"missing column(s) '{LABEL}'"),
    (lambda f: f.assign(note="x"), "column(s) 'note' are not a label file's"),
    (lambda f: f.iloc[:0], "no data rows"),
])
def test_a_label_file_without_its_columns_or_rows_is_refused_in_one_line(source, change,
                                                                         problem):
    log = logged(source)
    with pytest.raises(ContractError) as caught:
        join(change(label_file(log, source)), log)
    message = str(caught.value)
    assert message.startswith("labels.csv: ") and problem in message and "\n" not in message


# ------------------------------------------------------------------ landing (repo.outcomes)


@pytest.fixture
def repo_dir(tmp_path, monkeypatch):
    """An empty repository folder as the working directory (the layout's relative paths)."""
    monkeypatch.chdir(tmp_path)
    for folder in (RAW, QUARANTINE, predlog.PREDICTIONS):
        folder.mkdir(parents=True)
    return tmp_path


def everything(root) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_label_lands_the_joined_rows_through_the_contract_and_records_them(repo_dir, source):
    log = logged(source)
    predlog.append(log)
    labels = label_file(log, source)
    labels.loc[0, LABEL] = "7"  # the contract refuses it
    labels.loc[1, "prediction_id"] = "unknown"
    labels.to_csv("labels.csv", index=False)

    labelled = labelling.label_file(repo_dir / "labels.csv", P)

    (info,) = store.list_batches(RAW)
    assert info == labelled.batch.info and info.rows == len(source) - 2
    assert info.quarantined == 2
    landed = pd.read_parquet(store.batch_path(RAW, info.id))
    expected = contract_module.validate(source.iloc[2:], C).good
    pd.testing.assert_frame_equal(landed, expected)
    quarantine = pd.read_csv(QUARANTINE / f"{info.id}.csv", dtype=str)
    assert quarantine["source_row"].tolist() == ["1", "2"]
    assert quarantine.loc[0, "reason"] == f"{LABEL}: not one of the classes [0, 1]"
    assert quarantine.loc[0, "prediction_id"] == labels.loc[0, "prediction_id"]
    assert quarantine.loc[1, "reason"].startswith("prediction_id: not in the prediction log")
    record = labelling.read_record()
    assert set(record["prediction_id"]) == set(labels["prediction_id"].iloc[2:])
    assert (record["batch"] == info.id).all()
    by_id = labels.set_index("prediction_id")[LABEL].astype(int)
    assert (record.set_index("prediction_id")["label"] == by_id[record["prediction_id"]]).all()

    again = labels.iloc[2:].to_csv(index=False, lineterminator="\n").replace("\n", "\r\n")
    (repo_dir / "again.csv").write_text(again)  # the same labels, other bytes
    before = everything(repo_dir)
    with pytest.raises(ContractError, match="none of its .* labels can land; first, row 1: "
                       "prediction_id: labelled before"):
        labelling.label_file(repo_dir / "again.csv", P)
    assert everything(repo_dir) == before, "a refused label file changes nothing"


def test_a_label_file_mostly_unknown_is_refused_and_changes_nothing(repo_dir, source):
    log = logged(source)
    predlog.append(log)
    labels = label_file(log, source)
    labels.loc[: len(labels) // 2, "prediction_id"] = [f"x{i}" for i in
                                                       range(len(labels) // 2 + 1)]
    labels.to_csv("labels.csv", index=False)
    before = everything(repo_dir)

    with pytest.raises(ContractError, match=r"labels.csv: 41 of 80 labels cannot land \(51% > "
                       r"max_bad_share 20%\); first, row 1: prediction_id: not in the"):
        labelling.check(labels, P, sha256="0" * 64, source="labels.csv")
    assert everything(repo_dir) == before


def test_a_record_counts_only_once_its_batch_has_landed(repo_dir, source):
    log = logged(source)
    predlog.append(log)
    labelled = labelling.check(label_file(log, source), P, sha256="0" * 64, source="l.csv")
    LABELS.mkdir(parents=True)
    labelled.record.to_parquet(LABELS / f"{labelled.batch.info.id}.parquet")  # killed here

    assert labelling.read_record().empty
    again = labelling.check(label_file(log, source), P, sha256="0" * 64, source="l.csv")
    labelling.write(again)
    assert len(labelling.read_record()) == len(source)


# ------------------------------------------------------------------ realised performance


def test_realised_performance_is_per_version_and_week_with_the_evaluations_intervals():
    rng = np.random.default_rng(1)
    n = 400
    frame = pd.DataFrame({
        "model_version": ["1.0.0"] * (n // 2) + ["1.1.0"] * (n // 2),
        "scored_at": pd.to_datetime(["2026-11-24T10:00Z"] * 100 + ["2026-12-01T10:00Z"] * 300),
        "score": rng.uniform(size=n).round(6),
        "label": rng.integers(0, 2, size=n)})

    result = outcomes.realised(frame, {"1.0.0": 0.3, "1.1.0": 0.5}, "week", confidence=0.9,
                               resamples=200, seed=0)

    assert result["labelled"] == n and result["bucket"] == "week"
    assert {v: [r["period"] for r in rows] for v, rows in result["versions"].items()} == {
        "1.0.0": ["2026-11-23", "2026-11-30"], "1.1.0": ["2026-11-30"]}
    week_two = result["versions"]["1.0.0"][1]
    rows = frame.iloc[100:200]
    assert week_two["rows"] == 100 and week_two["positives"] == int(rows["label"].sum())
    expected = evaluate.to_dict(evaluate.describe(rows["label"], rows["score"], 0.3,
                                                  confidence=0.9, resamples=200, seed=0))
    for metric in ("roc_auc", "f1", "log_loss", "brier"):
        assert week_two[metric] == expected[metric]
        assert week_two[metric]["low"] <= week_two[metric]["value"] <= week_two[metric]["high"]
    table = report.realised_rows(result)
    assert [r[:3] for r in table] == [["v1.0.0", "2026-11-23", 100], ["v1.0.0", "2026-11-30", 100],
                                      ["v1.1.0", "2026-11-30", 200]]
    auc = week_two["roc_auc"]
    assert table[1][3] == f"{auc['value']:.3f} [{auc['low']:.3f}, {auc['high']:.3f}]"


def test_realised_performance_of_one_class_shows_no_roc_auc():
    frame = pd.DataFrame({"model_version": "2.0.0", "scored_at": pd.Timestamp(SCORED),
                          "score": [0.2, 0.7, 0.9], "label": [1, 1, 1]})
    result = outcomes.realised(frame, {"2.0.0": 0.5}, "day", confidence=0.95, resamples=100,
                               seed=0)
    (row,) = result["versions"]["2.0.0"]
    assert row["roc_auc"] == {"value": None, "low": None, "high": None}
    assert report.realised_rows(result)[0][3] == "-"


def test_realised_performance_joins_the_labels_to_every_logged_copy(repo_dir, source):
    log = logged(source, "1.0.0")
    shadow = log.assign(model_version="1.1.0", score=log["score"] * 0.5)  # the same IDs
    predlog.append(log)
    predlog.append(shadow)
    labelling.write(labelling.check(label_file(log, source), P, sha256="0" * 64, source="l"))

    result = labelling.realised(P)

    assert sorted(result["versions"]) == ["1.0.0", "1.1.0"]
    assert [r["rows"] for r in result["versions"]["1.0.0"]] == [len(source)]
    assert result["labelled"] == 2 * len(source)


def test_the_report_shows_the_realised_performance_and_omits_it_without_a_monitor_run():
    frame = pd.DataFrame({"model_version": "1.0.0", "scored_at": pd.Timestamp(SCORED),
                          "score": [0.2, 0.7, 0.9, 0.1], "label": [0, 1, 1, 0]})
    realised = outcomes.realised(frame, {"1.0.0": 0.5}, "week", confidence=0.95,
                                 resamples=100, seed=0)
    gate = {"verdict": "promote", "promotable": True, "reasons": []}

    text = report.render(gate=gate, realised=realised)

    section = text.split("## Realised performance of served versions", 1)[1]
    assert "| version | week | rows | ROC AUC [95% CI] | F1 [95% CI] | log loss [95% CI] |" \
        in section
    assert "| v1.0.0 | 2026-11-30 | 4 | 1.000" in section
    assert "Realised performance" not in report.render(gate=gate)


def test_labels_waiting_in_the_replay_that_landed_already_are_not_labelled_twice(repo_dir,
                                                                                 source):
    from iterate.repo import traffic

    log = logged(source)
    predlog.append(log)
    labelled = labelling.check(label_file(log, source), P, sha256="0" * 64, source="l")
    traffic.OUTCOMES.mkdir(parents=True)
    landed = traffic.OUTCOMES / "2013-01-14T23_00_00+00_00.parquet"
    waiting = traffic.OUTCOMES / "2013-01-21T23_00_00+00_00.parquet"
    label_file(log, source).to_parquet(landed)
    label_file(logged(source), source).to_parquet(waiting)
    labelling.write(labelled)  # a replay killed after landing, before removing its file

    assert traffic._waiting() == [waiting]
    assert not landed.exists()
    assert traffic._last_time(waiting) == "2013-01-21T23:00:00+00:00"
