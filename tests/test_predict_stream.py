"""`iterate predict` streams (iterate.repo.prediction_stream): the output and the log grow a
chunk at a time, equal what scoring the whole file at once gives, and nothing is published
when any chunk breaks the contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import full_fit, sgd_model, week

from iterate import params
from iterate.core import contract
from iterate.errors import ContractError
from iterate.repo import bundles, chunked_input, prediction_stream, predlog, scoring

ROOT = Path(__file__).resolve().parents[1]
P = params.load(ROOT / "params.yaml")
ADDED = ["prediction_id", "probability", "predicted_label", "model_version"]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    rows = contract.validate(week(1, step=2), P.contract).good.assign(
        batch_id="2013-01-01_2013-01-07")
    folder = tmp_path_factory.mktemp("model")
    bundles.save(full_fit(rows, sgd_model(), tmp_path_factory.mktemp("fit")), folder)
    return bundles.load(folder)


@pytest.fixture
def rows() -> pd.DataFrame:
    """230 rows of week 2 (not trained on), as text, without the label."""
    return week(2, step=5).head(230).drop(columns=["late"]).reset_index(drop=True)


def stream(bundle, source: Path, out: Path, log: Path, chunk_rows: int, held: list | None = None):
    def score(frame, where, offset):
        if held is not None:
            held.append(len(frame))
        return scoring.score(bundle, "1.0.0", frame, where, row_offset=offset)

    return prediction_stream.run(source, out, chunk_rows, score, log_folder=log)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_streamed_output_and_log_equal_scoring_the_whole_file_at_once(bundle, rows, tmp_path,
                                                                      kind):
    source = tmp_path / f"in.{kind}"
    rows.to_csv(source, index=False) if kind == "csv" else rows.to_parquet(source, index=False)
    whole, whole_log = scoring.score(bundle, "1.0.0", rows, "in")

    n = stream(bundle, source, tmp_path / "out.csv", tmp_path / "log", chunk_rows=50)

    out = pd.read_csv(tmp_path / "out.csv", dtype=str, keep_default_na=False, na_values=[""])
    assert n == len(rows) == len(out)
    assert list(out.columns) == [*rows.columns, *ADDED]
    assert np.allclose(out["probability"].astype(float), whole["probability"], atol=1e-12)
    assert (out["predicted_label"].astype(int) == whole["predicted_label"]).all()
    assert (out["model_version"] == "1.0.0").all() and out["prediction_id"].is_unique
    if kind == "csv":  # the input's cells are written back as they were read
        pd.testing.assert_frame_equal(out[list(rows.columns)], rows, check_dtype=False)
    parts = predlog.parts(folder=tmp_path / "log")
    assert len(parts) == 5, "one log part per chunk of 50 rows"
    log = predlog.read(folder=tmp_path / "log")
    assert list(log["prediction_id"]) == list(out["prediction_id"]), "the log keys the output"
    assert np.allclose(log["score"], whole_log["score"])
    assert list(log.columns) == list(whole_log.columns)


def test_the_chunk_size_bounds_the_rows_held_at_once(bundle, rows, tmp_path):
    big = pd.concat([rows] * 20, ignore_index=True)  # 4,600 rows
    big.to_parquet(tmp_path / "in.parquet", index=False)
    big.to_csv(tmp_path / "in.csv", index=False)
    for source in ("in.parquet", "in.csv"):
        held: list[int] = []
        stream(bundle, tmp_path / source, tmp_path / "out.csv", tmp_path / "log", 1000, held)
        assert sum(held) == len(big) and max(held) <= 1000, (source, held)
    assert max(b.num_rows for b in chunked_input.chunks(tmp_path / "in.csv", 7)) == 7


def test_a_bad_row_in_a_later_chunk_publishes_nothing_and_names_its_row_in_the_file(
        bundle, rows, tmp_path):
    rows.loc[161, "distance"] = "far"  # row 162 of the file, in the fourth chunk of 50
    rows.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "log").mkdir()

    with pytest.raises(ContractError) as caught:
        stream(bundle, tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "log", 50)

    message = str(caught.value)
    assert "row 162" in message and "distance" in message and "\n" not in message
    assert not (tmp_path / "out.csv").exists()
    assert list((tmp_path / "log").iterdir()) == [], "no log part, no staging folder left"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "log"], "no temporary left"


def test_an_existing_output_is_kept_when_the_input_is_refused(bundle, rows, tmp_path):
    rows.loc[3, "origin"] = ""  # a missing value in a column that may not be missing
    rows.to_csv(tmp_path / "in.csv", index=False)
    (tmp_path / "out.csv").write_text("earlier\n")

    with pytest.raises(ContractError, match="row 4"):
        stream(bundle, tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "log", 50)

    assert (tmp_path / "out.csv").read_text() == "earlier\n"


@pytest.mark.parametrize(("text", "problem"), [
    ("", "the file is empty"),
    ("distance,origin\n", "no data rows"),
    ("a,a\n1,2\n", "appears more than once"),
    ("a,b\n1,2,3\n", "cannot be read as CSV"),
])
def test_an_unreadable_or_empty_csv_is_refused_in_one_line(bundle, tmp_path, text, problem):
    (tmp_path / "in.csv").write_text(text)

    with pytest.raises(ContractError, match=problem) as caught:
        stream(bundle, tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "log", 50)

    assert "\n" not in str(caught.value) and not (tmp_path / "out.csv").exists()


def test_utc_times_are_written_as_the_csv_writer_writes_them():
    import pyarrow as pa

    times = pa.array(pd.to_datetime(["2013-01-01 05:00:00", "2013-02-01 06:30:01", None],
                                    utc=True))
    for column in (times, times.slice(0, 2), times.slice(1, 1)):
        assert prediction_stream._utc_text(column).to_pylist() == column.cast(
            pa.string()).to_pylist()


def test_text_cells_are_quoted_only_when_they_hold_a_comma_quote_or_line_break(tmp_path):
    import pyarrow as pa

    plain = pa.table({"a": ["x", None], "b": [1.5, 2.0]})
    special = pa.table({"a": ['x,y', 'say "hi"'], "b": [1.5, 2.0]})

    assert prediction_stream._csv(plain, header=True) == b"a,b\nx,1.5\n,2\n"
    assert pd.read_csv(__import__("io").BytesIO(prediction_stream._csv(special, True)))[
        "a"].tolist() == ['x,y', 'say "hi"']
