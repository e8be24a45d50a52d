"""Streaming a full refit: prepare writes the window batch by batch, train reads it in chunks.

Up to ``fit_rows`` rows the streamed refit is byte for byte the in-memory one; beyond, the
transformer is fitted on a sample that still knows every category.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from helpers import hgb_model, sgd_model, typed_weeks
from sklearn.metrics import roc_auc_score

from iterate import params
from iterate.core import training
from iterate.core.batches import BatchInfo
from iterate.errors import IterateError
from iterate.repo import bundles, store, streaming

ROOT = Path(__file__).resolve().parents[1]
P = params.load(ROOT / "params.yaml")
SGD = sgd_model()
HGB = hgb_model()
KINDS = pytest.mark.parametrize("model", [SGD, HGB], ids=["sgd", "hgb"])
COLUMNS = [*P.contract.features, P.contract.label]


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    """Two weeks of real rows, typed by the contract, with a batch_id per week."""
    return typed_weeks(12000).reset_index(drop=True)


def write(frame: pd.DataFrame, path: Path) -> Path:
    """As prepare writes train.parquet: no pandas metadata."""
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False).replace_schema_metadata(None),
                   path)
    return path


@pytest.fixture
def train_file(rows, tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 1000)  # many chunks
    return write(rows, tmp_path / "train.parquet")


def in_memory(path: Path, model, reference_rows: int, note: str) -> training.Bundle:
    """The backtest's fit: training.fit_full of the whole DataFrame."""
    frame = pd.read_parquet(path)
    x, y = frame[P.contract.features], frame[P.contract.label].to_numpy()
    pipeline = training.fit_full(model, P.contract, x, y)
    trained = sorted(frame["batch_id"].unique())
    bundle = training.describe(pipeline, "full", note, model, P.contract, trained=trained, y=y,
                               seen=training.seen_range(trained),
                               schema=training.input_schema(P.contract, pipeline, x))
    sample = training.reference_sample(frame, reference_rows, model.seed)
    bundle.reference = sample[COLUMNS].assign(score=bundle.predict_proba(sample))
    return bundle


def saved(bundle: training.Bundle, folder: Path) -> dict[str, bytes]:
    bundles.save(bundle, folder)
    return {f.name: f.read_bytes() for f in sorted(folder.iterdir())}


# ---------------------------------------------------------------- train


@KINDS
def test_a_streamed_refit_is_byte_for_byte_the_in_memory_one(model, train_file, tmp_path):
    note = training.full_refit_note("full", None, streaming.count_rows(train_file))
    streamed = streaming.fit_file(train_file, note, model, P.contract, reference_rows=500)
    expected = in_memory(train_file, model, reference_rows=500, note=note)
    files = saved(streamed, tmp_path / "streamed")
    assert set(files) == {bundles.MODEL_FILE, bundles.META_FILE, bundles.REFERENCE_FILE}
    assert files == saved(expected, tmp_path / "expected")


@KINDS
def test_above_fit_rows_the_transformer_is_fitted_on_a_sample_knowing_every_category(
        model, rows, train_file):
    fit_rows = 1000
    sampled = rows.iloc[streaming.sample_positions(len(rows), fit_rows, model.seed)]
    assert sampled["dest"].nunique() < rows["dest"].nunique(), "the sample alone misses some"

    exact = streaming.fit_file(train_file, "n", model, P.contract, 500)
    approx = streaming.fit_file(train_file, "n", model, P.contract, 500, fit_rows=fit_rows)
    assert re.fullmatch(r"n \(features fitted on a sample of 10\d\d rows\)", approx.meta["note"])
    assert approx.meta["input_schema"] == exact.meta["input_schema"]
    for key in ("trained_batches", "trained_rows", "seen", "label_rate"):
        assert approx.meta[key] == exact.meta[key]
    y = rows[P.contract.label]
    assert abs(roc_auc_score(y, approx.predict_proba(rows))
               - roc_auc_score(y, exact.predict_proba(rows))) < 0.02
    pd.testing.assert_frame_equal(approx.reference[COLUMNS], exact.reference[COLUMNS])


def test_a_sparse_output_is_gathered_into_one_csr_matrix(rows, train_file):
    transformer = training.build(SGD, P.contract)[:-1].fit(rows)
    [matrix] = streaming.transform(train_file, transformer, P.contract.features, len(rows),
                                   np.float32)
    assert matrix.dtype == np.float32 and matrix.format == "csr"
    np.testing.assert_allclose(matrix.toarray(), transformer.transform(rows).toarray(),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="file order"):
        streaming.transform(train_file, transformer, P.contract.features, len(rows),
                            np.float32, parts=[np.arange(len(rows))])


def test_the_csr_buffers_grow_when_a_later_chunk_has_fuller_rows():
    from scipy import sparse

    blocks = [sparse.csr_matrix(np.eye(3)), sparse.csr_matrix(np.ones((2, 3)))]
    csr = streaming._Csr(5, 3, np.float64)
    csr.add(0, blocks[0])
    csr.add(3, blocks[1])
    [matrix] = csr.matrices()
    np.testing.assert_array_equal(matrix.toarray(), sparse.vstack(blocks).toarray())


def test_a_dense_output_is_gathered_in_each_parts_order(rows, train_file):
    transformer = training.build(HGB, P.contract)[:-1].fit(rows)
    expected = transformer.transform(rows)
    [whole] = streaming.transform(train_file, transformer, P.contract.features, len(rows),
                                  np.float64)
    np.testing.assert_array_equal(whole, expected)
    order = np.random.default_rng(0).permutation(len(rows))
    parts = [order[:9000], order[9000:]]
    first, second = streaming.transform(train_file, transformer, P.contract.features,
                                        len(rows), np.float32, parts=parts)
    assert first.dtype == np.float32
    np.testing.assert_array_equal(first, expected[parts[0]].astype(np.float32))
    np.testing.assert_array_equal(second, expected[parts[1]].astype(np.float32))


def test_scan_gathers_labels_batches_and_ranges_as_pandas_would(rows, tmp_path, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_ROWS", 1000)
    frame = rows.assign(wind_gust=np.nan)  # null everywhere
    frame.loc[:1500, "pressure"] = np.nan  # null in the first chunks only
    scan = streaming.scan(write(frame, tmp_path / "t.parquet"), P.contract, 10**6, 300, seed=1)
    assert scan.rows == len(frame)
    np.testing.assert_array_equal(scan.labels, frame[P.contract.label].to_numpy())
    assert scan.batch_ids == sorted(frame["batch_id"].unique())
    assert scan.extremes["wind_gust"].isna().all()
    for name in ("pressure", "temp", "sched_dep_time"):
        assert scan.extremes[name].tolist() == [frame[name].min(), frame[name].max()]
    pd.testing.assert_frame_equal(scan.to_fit, frame[P.contract.features])
    assert len(scan.reference) == 300


def test_sample_positions_are_those_dataframe_sample_draws():
    frame = pd.DataFrame({"a": range(5000)})
    drawn = frame.sample(n=300, random_state=7).sort_index().index
    assert streaming.sample_positions(5000, 300, 7).tolist() == drawn.tolist()
    assert streaming.sample_positions(200, 300, 7).tolist() == list(range(200))


def test_a_stream_fit_is_epochs_passes_of_partial_fit_over_the_row_groups_in_order(rows,
                                                                                  tmp_path):
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), path, row_group_size=2500)
    streamed = streaming.fit_file(path, "n", SGD, P.contract, 500,
                                  fit_estimator=streaming.streamed(path, P.contract, 3,
                                                                   P.compute))
    assert streamed.meta["note"] == "n (partial_fit: 3 passes over 5 row groups)"

    by_hand = training.fit_features(training.build(SGD, P.contract), rows[P.contract.features],
                                    rows[P.contract.label].to_numpy())
    for _ in range(3):
        for start in range(0, len(rows), 2500):
            part = rows.iloc[start:start + 2500]
            by_hand[-1].partial_fit(by_hand[:-1].transform(part[P.contract.features]),
                                    part[P.contract.label].to_numpy(), classes=[0, 1])
    np.testing.assert_array_equal(streamed.pipeline[-1].coef_, by_hand[-1].coef_)
    np.testing.assert_array_equal(streamed.pipeline[-1].intercept_, by_hand[-1].intercept_)
    assert streamed.meta["trained_rows"] == len(rows) and streamed.meta["mode"] == "full"
    whole = streaming.fit_file(path, "n", SGD, P.contract, 500)
    assert abs(roc_auc_score(rows[P.contract.label], streamed.predict_proba(rows))
               - roc_auc_score(rows[P.contract.label], whole.predict_proba(rows))) < 0.02


def test_a_streamed_refit_on_one_class_is_refused(rows, tmp_path):
    path = write(rows.assign(late=0), tmp_path / "t.parquet")
    with pytest.raises(IterateError, match="one class only"):
        streaming.fit_file(path, "n", SGD, P.contract, 500)


# ---------------------------------------------------------------- prepare


def land_files(raw: Path, frames: list[pa.Table]) -> list[BatchInfo]:
    raw.mkdir()
    infos = []
    for i, table in enumerate(frames):
        info = BatchInfo(id=f"b{i}", start="", end="", rows=table.num_rows, quarantined=0,
                         sha256="", source="", landed_at="")
        pq.write_table(table, store.batch_path(raw, info.id))
        infos.append(info)
    return infos


def test_write_batches_gives_the_bytes_of_writing_the_whole_window_at_once(rows, tmp_path,
                                                                          monkeypatch):
    monkeypatch.setattr(store, "ROW_GROUP_ROWS", 1000)  # row groups cut across batches
    tables = [pa.Table.from_pandas(rows.iloc[i:i + 700].drop(columns="batch_id"),
                                   preserve_index=False) for i in range(0, 4200, 700)]
    infos = land_files(tmp_path / "raw", tables)
    store.write_batches(tmp_path / "raw", infos, tmp_path / "streamed.parquet",
                        with_batch_id=True)
    pq.write_table(store.read_batches(tmp_path / "raw", infos, with_batch_id=True),
                   tmp_path / "whole.parquet", row_group_size=1000)
    streamed = (tmp_path / "streamed.parquet").read_bytes()
    assert streamed == (tmp_path / "whole.parquet").read_bytes()
    assert pq.ParquetFile(tmp_path / "streamed.parquet").metadata.num_row_groups == 5


def test_write_batches_casts_a_batch_whose_all_null_column_has_no_type(rows, tmp_path):
    typed = pa.Table.from_pandas(rows.iloc[:50].drop(columns="batch_id"), preserve_index=False)
    untyped = typed.set_column(typed.schema.get_field_index("temp"), "temp",
                               pa.nulls(50, pa.null()))
    infos = land_files(tmp_path / "raw", [untyped, typed])
    store.write_batches(tmp_path / "raw", infos, tmp_path / "t.parquet", with_batch_id=True)
    written = pq.read_table(tmp_path / "t.parquet")
    assert written.schema.field("temp").type == pa.float64()
    assert written["temp"].null_count == 50
    assert written["batch_id"].to_pylist() == ["b0"] * 50 + ["b1"] * 50


def test_hist_gradient_boosting_stops_early_on_a_stratified_validation_set_of_the_model_seed(
        rows):
    y = rows[P.contract.label].to_numpy()
    estimator = training.build(HGB, P.contract)[-1]
    train, held_out = training.validation_split(estimator, y, HGB.seed)
    assert len(held_out) == math.ceil(0.1 * len(y)) and len(train) + len(held_out) == len(y)
    assert abs(y[held_out].mean() - y.mean()) < 0.01, "stratified"
    again = training.validation_split(estimator, y, HGB.seed)
    assert all(np.array_equal(a, b) for a, b in zip((train, held_out), again, strict=True))
    assert training.validation_split(estimator, y[:10000], HGB.seed) is None
    assert training.validation_split(training.build(SGD, P.contract)[-1], y, SGD.seed) is None


def test_a_fit_stops_early_only_with_its_own_validation_set(rows):
    x, y = rows[P.contract.features], rows[P.contract.label].to_numpy()
    large = training.fit_full(HGB, P.contract, x, y)[-1]
    assert large.early_stopping is True and len(large.validation_score_) == large.n_iter_ + 1
    small = training.fit_full(HGB, P.contract, x.iloc[:5000], y[:5000])[-1]
    assert small.early_stopping is False and len(small.validation_score_) == 0
