"""Shared helpers for the params, contract, landing, batches and gate tests.

Small frames cut from the embedded source (read once, as text, the way `iterate land` reads a
CSV), the parsed params.yaml, and a digest of a folder tree to prove nothing changed.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import hashlib
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from iterate import params

ROOT = Path(__file__).resolve().parents[1]
PARAMS_FILE = ROOT / "params.yaml"
DVC_FILE = ROOT / "dvc.yaml"
SOURCE = ROOT / "data/source/flights_weather_2013.csv.gz"
SOURCE_ROWS = 12_500  # 2013-01-01 .. 2013-01-15: two whole UTC weeks and a bit

TIME = "time_hour"
LABEL = "late"


@functools.cache
def _source_head() -> pd.DataFrame:
    return pd.read_csv(SOURCE, dtype=str, keep_default_na=False, na_values=[""],
                       nrows=SOURCE_ROWS)


def source_rows(n: int = 200) -> pd.DataFrame:
    """The first ``n`` rows of the source, as text (a fresh copy each call)."""
    return _source_head().head(n).copy().reset_index(drop=True)


def week(number: int, step: int = 20, offset: int = 0) -> pd.DataFrame:
    """Every ``step``-th row (from ``offset``) of UTC week ``number`` (1: Jan 1-7, 2: Jan 8-14)."""
    frame = _source_head()
    day = frame[TIME].str.slice(8, 10).astype(int)
    first = 1 + 7 * (number - 1)
    rows = frame[(day >= first) & (day < first + 7)]
    return rows.iloc[offset::step].copy().reset_index(drop=True)


@functools.cache
def typed_weeks(nrows: int) -> pd.DataFrame:
    """The first ``nrows`` rows of the source, typed by the contract, with a ``batch_id`` per
    whole week since the first row ("week-0", "week-1", ...)."""
    from iterate.core import contract as contract_module

    raw = pd.read_csv(SOURCE, dtype=str, keep_default_na=False, na_values=[""], nrows=nrows)
    typed = contract_module.validate(raw, shipped_params().contract).good
    number = (typed[TIME] - typed[TIME].min()).dt.days // 7
    return typed.assign(batch_id=number.map(lambda w: f"week-{w}"))


def _raw_params() -> dict[str, Any]:
    return yaml.safe_load(PARAMS_FILE.read_text(encoding="utf-8"))


def raw_params() -> dict[str, Any]:
    """params.yaml as parsed YAML, a deep copy the caller may mutate."""
    return copy.deepcopy(_raw_params())


def shipped_params() -> params.Params:
    return params.parse(raw_params())


def contract(**changes: Any) -> params.Contract:
    """The shipped contract, with ``changes`` applied (dataclasses.replace)."""
    return dataclasses.replace(shipped_params().contract, **changes)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree_digest(root: Path, *folders: str) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root/<folder>`` for each folder."""
    digest = {}
    for folder in folders:
        base = Path(root) / folder
        if not base.exists():
            continue
        for path in sorted(base.rglob("*")):
            if path.is_file():
                digest[str(path.relative_to(root))] = sha256(path)
    return digest


def full_fit(rows: pd.DataFrame, model: params.Model, folder: Path,
             reference_rows: int = 20000) -> Any:
    """The train stage's full refit of ``rows`` (with a ``batch_id`` column): written to
    ``folder`` as prepare writes train.parquet, then fitted by ``streaming.fit_file``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from iterate.core import training
    from iterate.repo import streaming

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "train.parquet"
    table = pa.Table.from_pandas(rows.reset_index(drop=True), preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path)
    note = training.full_refit_note("full", None, len(rows))
    return streaming.fit_file(path, note, model, shipped_params().contract, reference_rows)


def sgd_model(**changes: Any) -> params.Model:
    """The shipped model section with the SGD logistic classifier (``params.SGD_LOGISTIC``,
    the backtest's and the docs' choice), its params updated by ``changes``."""
    sgd = params.SGD_LOGISTIC
    return dataclasses.replace(shipped_params().model, estimator=sgd.estimator,
                               params={**sgd.params, **changes})


def hgb_model(**changes: Any) -> params.Model:
    """The shipped model section (HistGradientBoosting), its params updated by ``changes``."""
    shipped = shipped_params().model
    return dataclasses.replace(shipped, params={**shipped.params, **changes})


# set_params() changes that make a template copy use the SGD logistic classifier (quick, and
# the one that learns incrementally)
SGD_PARAMS = {"model.estimator": params.SGD_LOGISTIC.estimator,
              "model.params": dict(params.SGD_LOGISTIC.params)}


# ---------------------------------------------------------------- a dataset that is not flights

RAIN_COLUMNS = {"humidity": {"dtype": "float", "min": 0, "max": 100},
                "station": {"dtype": "category"}}


def rain_history(weeks: int = 8, per_day: int = 20, dry: tuple[int, ...] = (),
                 seed: int = 0) -> pd.DataFrame:
    """A generated weather history, as text: a date-only ``day`` column (no time, no zone),
    ``per_day`` rows a day, a numeric and a categorical feature and a 0/1 label ``rain`` that
    depends on them; in the weeks numbered in ``dry`` (1-based) it never rains."""
    import numpy as np

    rng = np.random.default_rng(seed)
    days = pd.date_range("2021-03-01", periods=7 * weeks, freq="D").repeat(per_day)
    n = len(days)
    humidity = rng.uniform(20, 100, n)
    station = rng.choice(["north", "south", "coast"], n)
    logit = (humidity - 65) / 8 + np.where(station == "coast", 1.0, 0.0)
    rain = (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int)
    week = np.arange(n) // (7 * per_day) + 1
    rain[np.isin(week, dry)] = 0
    return pd.DataFrame({"day": days.strftime("%Y-%m-%d"),
                         "humidity": humidity.round(1).astype(str), "station": station,
                         "rain": rain.astype(str)})


def rain_params(source: str) -> dict[str, Any]:
    """``set_params`` changes that adopt :func:`rain_history` (at ``source``) by params alone."""
    return {"replay.source": source, "replay.warmup_batches": 3,
            "contract.time_column": "day", "contract.label": "rain",
            "contract.timezone": "Europe/Paris", "contract.columns": RAIN_COLUMNS,
            "split.min_train_rows": 100, "evaluate.slice_column": "station",
            "evaluate.min_slice_rows": 20, "registry.name": "rain-tomorrow",
            "registry.description": "Whether it rains at the station that day",
            **SGD_PARAMS, "model.threshold": 0.5}
