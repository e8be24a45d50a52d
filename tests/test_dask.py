"""compute.engine: dask (docs/scale.md): the optional extra is pinned consistently with the lock,
the params are checked, nothing imports dask on the local engine, and on a LocalCluster of 2
processes predict and land decide exactly what the local engine decides, row for row."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import full_fit, raw_params, sgd_model, shipped_params, week

from iterate import params
from iterate.core import contract
from iterate.errors import ContractError, IterateError, ParamsError
from iterate.repo import bundles, prediction_stream, scoring

ROOT = Path(__file__).resolve().parents[1]
P = shipped_params()
ADDED = ["prediction_id", "probability", "predicted_label", "model_version"]


def pins(path: Path) -> dict[str, str]:
    found = re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", path.read_text(), re.M)
    return {re.sub(r"[-_.]+", "-", name).lower(): version for name, version in found}


# --- the optional extra -------------------------------------------------------------------

def test_the_dask_lock_pins_the_extra_at_the_versions_the_main_lock_pins():
    main, extra = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dask.lock")
    assert {"dask", "distributed"} <= set(extra)
    assert "dask" not in main and "distributed" not in main, "make setup does not pay for dask"
    differ = {n: (main[n], v) for n, v in extra.items() if n in main and main[n] != v}
    assert differ == {}, "requirements-dask.lock is compiled against requirements.lock"


def test_the_extra_is_declared_in_pyproject_and_installed_by_make_test_only():
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert re.search(r'^dask = \[.*"dask\[dataframe\]', pyproject, re.M)
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^test: setup-dask ", makefile, re.M)
    assert re.search(r"^run: setup ", makefile, re.M), "the quickstart installs the main lock"
    assert "-r requirements-dask.lock" in makefile


# --- params -------------------------------------------------------------------------------

def parse_compute(**compute) -> params.Params:
    raw = raw_params()
    raw["compute"] = compute
    return params.parse(raw)


def test_compute_defaults_to_the_local_engine():
    raw = raw_params()
    raw.pop("compute", None)
    assert params.parse(raw).compute == params.Compute("local", None, 2)
    assert P.compute.engine == "local", "the template ships the local engine"


@pytest.mark.parametrize(("compute", "problem"), [
    ({"engine": "spark"}, "compute.engine: str 'spark' is not one of local, dask"),
    ({"engine": "dask", "scheduler": "10.0.0.5:8786"}, "is not a scheduler address"),
    ({"engine": "dask", "scheduler": "tcp://host:99999"}, "is not a scheduler address"),
    ({"engine": "local", "scheduler": "tcp://host:8786"}, "only with compute.engine: dask"),
    ({"engine": "dask", "workers": 0}, "compute.workers: must be between 1 and 512"),
])
def test_a_wrong_compute_section_is_refused_naming_the_key(compute, problem):
    with pytest.raises(ParamsError, match=re.escape(problem)):
        parse_compute(**compute)


def test_a_scheduler_address_is_taken_with_the_dask_engine():
    chosen = parse_compute(engine="dask", scheduler="tcp://10.0.0.5:8786").compute
    assert chosen.scheduler == "tcp://10.0.0.5:8786"


# --- fixtures ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def model(tmp_path_factory) -> tuple[Path, dict]:
    """A small SGD model trained on week 1, saved, with the registry entry that vouches for it."""
    rows = contract.validate(week(1, step=2), P.contract).good.assign(
        batch_id="2013-01-01_2013-01-07")
    folder = tmp_path_factory.mktemp("model")
    bundles.save(full_fit(rows, sgd_model(), tmp_path_factory.mktemp("fit")), folder)
    meta = bundles.read_meta(folder)
    entry = {"version": "1.0.0", "model_sha256": meta["sha256"],
             "model_params": meta["model_params"]}
    return folder, entry


def parquet_folder(folder: Path, frame: pd.DataFrame, cuts: list[int]) -> Path:
    """``frame`` as Parquet parts cut before each row number of ``cuts``."""
    folder.mkdir(parents=True)
    edges = [0, *cuts, len(frame)]
    for i, (a, b) in enumerate(zip(edges, edges[1:], strict=False)):
        frame.iloc[a:b].to_parquet(folder / f"part-{i:03d}.parquet", index=False)
    return folder


def local_predict(folder: Path, entry: dict, source: Path, out: Path, log: Path) -> int:
    bundle = bundles.load_registered(folder, entry)
    return prediction_stream.run(
        source, out, 40,
        lambda frame, where, offset: scoring.score(bundle, entry["version"], frame, where,
                                                   scoring.logged_context(P.contract),
                                                   row_offset=offset), log_folder=log)


# --- nothing imports dask on the local engine ---------------------------------------------

def test_predicting_a_folder_on_the_local_engine_imports_no_dask(model, tmp_path):
    folder, entry = model
    source = parquet_folder(tmp_path / "in", week(2, step=7).head(150), [60])
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from iterate import params
        from iterate.repo import landing, scoring
        p = params.load({str(ROOT / "params.yaml")!r})
        assert p.compute.engine == "local"
        scoring.production_entry = lambda: json.loads({json.dumps(json.dumps(entry))})
        scoring.PRODUCTION = Path({str(folder)!r})
        from iterate.repo import bundles
        bundle = bundles.load_registered({str(folder)!r}, scoring.production_entry())
        scoring.production_bundle = lambda: (bundle, "1.0.0")
        Path("data/predictions").mkdir(parents=True)
        version, rows = scoring.predict(Path({str(source)!r}), Path("out.csv"), 1000, (),
                                        p.compute)
        assert rows == 150, rows
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("dask", "distributed"))
        print(loaded)
    """)
    result = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                            text=True, env={**__import__("os").environ,
                                            "PYTHONPATH": str(ROOT / "src")})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


# --- the cluster ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    pytest.importorskip("distributed", reason="the dask extra: `make setup-dask` installs it")
    from iterate.repo import cluster

    with cluster.session(params.Compute("dask", None, 2)) as c:
        yield c


@pytest.fixture
def scored_rows() -> pd.DataFrame:
    """310 rows of week 2 (not trained on), as text, without the label."""
    return week(2, step=3).head(310).drop(columns=["late"]).reset_index(drop=True)


def test_a_session_starts_two_worker_processes_on_loopback(client):
    workers = client.scheduler_info()["workers"]
    assert len(workers) == 2
    assert all(address.startswith("tcp://127.0.0.1:") for address in workers)
    assert {w["nthreads"] for w in workers.values()} == {1}


def test_an_unreachable_scheduler_is_one_line_naming_the_address():
    pytest.importorskip("distributed")
    from iterate.repo import cluster

    with pytest.raises(IterateError, match=r"compute.scheduler: cannot reach tcp://127.0.0.1:9"),\
            cluster.session(params.Compute("dask", "tcp://127.0.0.1:9", 2)):
        pass


def test_dask_predict_writes_the_rows_and_probabilities_of_the_local_engine(client, model,
                                                                             scored_rows,
                                                                             tmp_path):
    from iterate.repo import partitioned

    folder, entry = model
    source = parquet_folder(tmp_path / "in", scored_rows, [100, 101, 250])
    (tmp_path / "log-local").mkdir()
    (tmp_path / "log-dask").mkdir()
    n_local = local_predict(folder, entry, source, tmp_path / "local.csv", tmp_path / "log-local")

    n_dask = partitioned.predict(client, source, tmp_path / "out", 40,
                                 scoring.logged_context(P.contract), folder, entry,
                                 log_folder=tmp_path / "log-dask")

    assert n_dask == n_local == len(scored_rows)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"part-{i:05d}.csv" for i in range(4)], "one output part per input part"
    local = pd.read_csv(tmp_path / "local.csv", dtype=str, keep_default_na=False,
                        na_values=[""])
    dask = partitioned.read_output(tmp_path / "out")
    pd.testing.assert_frame_equal(dask.drop(columns="prediction_id"),
                                  local.drop(columns="prediction_id"))
    assert dask["prediction_id"].is_unique
    log_local = pd.concat(map(pd.read_parquet, sorted((tmp_path / "log-local").glob("*"))))
    log_dask = pd.concat(map(pd.read_parquet, sorted((tmp_path / "log-dask").glob("*"))))
    assert set(log_dask["prediction_id"]) == set(dask["prediction_id"])
    order = log_dask.set_index("prediction_id").loc[dask["prediction_id"]]
    assert np.array_equal(order["score"].to_numpy(), log_local["score"].to_numpy())
    assert not list((tmp_path / "log-dask").glob(".staging-*")), "staging removed"


def test_dask_predict_publishes_nothing_and_names_the_first_bad_row_as_local(client, model,
                                                                              scored_rows,
                                                                              tmp_path):
    from iterate.repo import partitioned

    folder, entry = model
    broken = scored_rows.copy()
    broken.loc[[180, 290], "distance"] = "-5"
    source = parquet_folder(tmp_path / "in", broken, [100, 200])
    (tmp_path / "log").mkdir()
    with pytest.raises(ContractError) as local:
        local_predict(folder, entry, source, tmp_path / "local.csv", tmp_path / "log")
    with pytest.raises(ContractError) as dask:
        partitioned.predict(client, source, tmp_path / "out", 40, [], folder, entry,
                            log_folder=tmp_path / "log")

    assert "row 181: distance: below the minimum 0" in str(dask.value)
    assert str(dask.value) == str(local.value)
    assert not (tmp_path / "out").exists()
    assert list((tmp_path / "log").iterdir()) == []


def test_a_worker_refuses_a_model_the_registry_does_not_vouch_for(client, model, scored_rows,
                                                                  tmp_path):
    from iterate.repo import partitioned

    folder, entry = model
    source = parquet_folder(tmp_path / "in", scored_rows, [])
    (tmp_path / "log").mkdir()
    with pytest.raises(IterateError, match="does not match the registry"):
        partitioned.predict(client, source, tmp_path / "out", 40, [], folder,
                            {**entry, "model_sha256": "0" * 64}, log_folder=tmp_path / "log")
