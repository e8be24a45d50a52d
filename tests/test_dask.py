"""compute.engine: dask (docs/scale.md): the optional extra is pinned consistently with the lock,
the params are checked, nothing imports dask on the local engine, and on a LocalCluster of 2
processes predict and land decide exactly what the local engine decides, row for row."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
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
from iterate.repo import bundles, landing, prediction_stream, scoring

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
    ({"engine": "dask", "auc_bins": 2**23}, "compute.auc_bins: must be between 2 and 4194304"),
    ({"engine": "dask", "auc_bins": 1}, "compute.auc_bins: must be between 2 and 4194304"),
    ({"engine": "dask", "auc_bins": "fine"}, "compute.auc_bins: expected"),
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

def test_predicting_and_landing_a_folder_on_the_local_engine_imports_no_dask(model, tmp_path):
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
        raw = Path({str(tmp_path / "rows")!r})
        raw.mkdir()
        (raw / "a.parquet").write_bytes(Path({str(source)!r}, "part-000.parquet").read_bytes())
        landing.check(landing.read_table(raw), p.contract, [], sha256=landing.file_sha256(raw),
                      source=str(raw), raw_dir="data/raw")
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


def test_a_fold_merges_on_the_workers_in_the_items_order_and_raises_the_first_refusal(client):
    from iterate.repo import cluster

    def task(i):  # a local function: sent to the workers by value
        if i in (5, 8):
            raise IterateError(f"part {i} refused")
        return [i]

    def concatenate(a, b):  # not commutative: the result shows the order
        return a + b

    assert cluster.fold_in_order(client, task, [(i,) for i in range(5)], concatenate) == \
        list(range(5))
    assert cluster.fold_in_order(client, task, [(3,)], concatenate) == [3]
    with pytest.raises(IterateError, match="part 5 refused"):
        cluster.fold_in_order(client, task, [(i,) for i in range(10)], concatenate)


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


# --- landing a big batch -------------------------------------------------------------------

def land_both(client, source: Path, tmp_path: Path, contract_=P.contract):
    """Land ``source`` with each engine into its own data folders; return both folders."""
    from iterate.repo import partitioned

    out = {}
    for engine in ("local", "dask"):
        raw, quarantine = tmp_path / engine / "raw", tmp_path / engine / "quarantine"
        raw.mkdir(parents=True)
        quarantine.mkdir()
        sha = landing.file_sha256(source)
        if engine == "local":
            batch = landing.check(landing.read_table(source), contract_, [], sha256=sha,
                                  source=str(source), raw_dir=raw)
            landing.write(batch, raw, quarantine)
        else:
            batch = partitioned.check_batch(client, source, contract_, [], sha256=sha,
                                            raw_dir=raw, staging=tmp_path / "staging")
            partitioned.write_batch(batch, raw, quarantine)
        out[engine] = (raw, quarantine, batch)
    return out


def assert_landed_alike(landed):
    import pyarrow.parquet as pq

    (raw_l, q_l, local), (raw_d, q_d, dask) = landed["local"], landed["dask"]
    assert dataclasses.replace(dask.info, landed_at="") == dataclasses.replace(
        local.info, landed_at=""), "same batch name, range, counts and source"
    assert dask.warnings == local.warnings
    [file_l], [file_d] = sorted(raw_l.iterdir()), sorted(raw_d.iterdir())
    assert file_d.name == file_l.name
    pd.testing.assert_frame_equal(pd.read_parquet(file_d), pd.read_parquet(file_l))
    assert pq.read_schema(file_d).remove_metadata() == pq.read_schema(file_l).remove_metadata()
    quarantined_l = sorted(p.name for p in q_l.iterdir())
    assert sorted(p.name for p in q_d.iterdir()) == quarantined_l
    for name in quarantined_l:
        assert (q_d / name).read_bytes() == (q_l / name).read_bytes(), "row for row, reasons"


def with_bad_rows(frame: pd.DataFrame, rows: list[int]) -> pd.DataFrame:
    broken = frame.copy()
    broken.loc[rows[0::3], "distance"] = "-1"
    broken.loc[rows[1::3], "late"] = "7"
    broken.loc[rows[2::3], "carrier"] = None
    return broken


def test_dask_landing_lands_and_quarantines_the_rows_the_local_engine_does(client, tmp_path):
    batch = with_bad_rows(week(1, step=4), [3, 50, 51, 400, 401, 402, 699])
    source = parquet_folder(tmp_path / "in", batch, [100, 400, 401])

    landed = land_both(client, source, tmp_path)

    assert landed["dask"][2].info.quarantined == 7 and landed["dask"][2].ordered
    assert_landed_alike(landed)


def test_parts_whose_times_interleave_land_in_the_local_engine_s_order(client, tmp_path):
    rows = week(1, step=4)
    shuffled = with_bad_rows(rows.sample(frac=1, random_state=3).reset_index(drop=True),
                             [0, 10, 200])
    source = parquet_folder(tmp_path / "in", shuffled, [150, 300])

    landed = land_both(client, source, tmp_path)

    assert not landed["dask"][2].ordered, "the sorted fallback is what this test covers"
    assert_landed_alike(landed)


def test_more_bad_rows_than_the_quarantine_keeps_note_the_same_rest(client, tmp_path):
    rows = week(1, step=1).head(1300).reset_index(drop=True)
    broken = with_bad_rows(rows, list(range(0, 1200)))
    source = parquet_folder(tmp_path / "in", broken, [500, 1000])
    loose = dataclasses.replace(P.contract, max_bad_share=1.0, min_rows=10)

    landed = land_both(client, source, tmp_path, loose)

    assert landed["dask"][2].info.quarantined == 1200
    assert_landed_alike(landed)


@pytest.mark.parametrize(("every", "contract_changes"), [
    (2, {}),  # half the rows bad: over max_bad_share
    (1000, {"min_rows": 10_000}),  # too few good rows
])
def test_dask_landing_refuses_a_batch_with_the_local_engine_s_message(client, tmp_path, every,
                                                                      contract_changes):
    from iterate.repo import partitioned

    rows = week(1, step=3)
    bad = list(range(7, len(rows), every))
    source = parquet_folder(tmp_path / "in", with_bad_rows(rows, bad), [200, 500])
    chosen = dataclasses.replace(P.contract, **contract_changes)
    with pytest.raises(ContractError) as local:
        landing.check(landing.read_table(source), chosen, [], sha256="x", source=str(source),
                      raw_dir=tmp_path)
    with pytest.raises(ContractError) as dask:
        partitioned.check_batch(client, source, chosen, [], sha256="x", raw_dir=tmp_path,
                                staging=tmp_path / "staging")
    assert str(dask.value) == str(local.value)
    assert "first, row 8: distance: below the minimum 0" in str(dask.value) or every == 1000
    assert "first, row 8: distance: below the minimum 0" in str(dask.value) or every == 1000


@pytest.mark.slow
def test_iterate_land_with_the_dask_engine_lands_what_the_local_engine_lands(tmp_path):
    """The command as a user runs it (a LocalCluster of 2 processes started by the command),
    against the same command on the local engine, in two copies of one repository."""
    pytest.importorskip("distributed")
    import os

    from conftest import set_params

    base = tmp_path / "base"
    base.mkdir()
    shutil.copy(ROOT / "params.yaml", base)
    shutil.copy(ROOT / "dvc.yaml", base)
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ROOT / "src")}
    subprocess.run(["git", "init", "-q"], cwd=base, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=base, env=env, check=True)
    batch = with_bad_rows(week(1, step=2), [5, 900, 901, 1500])
    parquet_folder(base / "inbox" / "week1", batch, [1000, 1001])
    results = {}
    for engine in ("local", "dask"):
        root = tmp_path / engine
        shutil.copytree(base, root, symlinks=True)
        set_params(root / "params.yaml", {"compute.engine": engine})
        results[engine] = subprocess.run(
            [sys.executable, "-m", "iterate.commands.cli", "land", "inbox/week1"], cwd=root,
            env=env, capture_output=True, text=True)

    for result in results.values():
        assert result.returncode == 0, result.stderr
    assert results["dask"].stdout == results["local"].stdout
    assert "4 bad rows -> data/quarantine/" in results["dask"].stdout
    assert results["dask"].stderr == "", "no worker logs, no warnings"
    for folder in ("data/raw", "data/quarantine"):
        names = sorted(p.name for p in (tmp_path / "local" / folder).iterdir())
        assert sorted(p.name for p in (tmp_path / "dask" / folder).iterdir()) == names
    [raw] = (tmp_path / "dask" / "data/raw").glob("*.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(raw),
                                  pd.read_parquet(tmp_path / "local" / "data/raw" / raw.name))
    assert not list((tmp_path / "dask" / "data").glob(".land-staging-*")), "staging removed"


# --- evaluation from mergeable summaries --------------------------------------------------

def scored_holdout(n: int, seed: int) -> pd.DataFrame:
    """Labels, both models' probabilities (rounded: ties across parts) and a slice column with
    one value too small to judge."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.35).astype("int8")
    return pd.DataFrame({
        "late": y,
        "candidate": np.clip(np.round(0.25 * y + rng.random(n) * 0.75, 3), 0, 1),
        "production": np.clip(np.round(0.2 * y + rng.random(n) * 0.8, 2), 0, 1),
        "origin": np.where(np.arange(n) % 50 == 0, "ZZZ",
                           np.array(["EWR", "JFK", "LGA"])[rng.integers(0, 3, n)]),
    })


def assert_close(got, want, where: str = "") -> None:
    """Equal leaves, numbers within 2e-6 (to_dict rounds to 6 decimals: a sum in another order
    may round the other way at the last digit)."""
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), where
        for k in want:
            assert_close(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, float):
        assert got == pytest.approx(want, abs=2e-6), where
    else:
        assert got == want, where


@pytest.mark.parametrize("bins", [None, 2**20], ids=["exact", "grid"])
@pytest.mark.parametrize("with_production", [True, False])
def test_dask_evaluation_gives_the_local_metrics_slices_and_gate_verdict(client, tmp_path,
                                                                          with_production, bins):
    """Exact, or on the default grid: scores 0.001 apart fall in bins 1,048 apart, so the
    grid keeps their order and ties."""
    from iterate.core import evaluate, gate
    from iterate.repo import distributed_eval

    frame = scored_holdout(3000, seed=7)
    folder = parquet_folder(tmp_path / "scored", frame, [700, 701, 1900])
    options = dataclasses.replace(P.evaluate, slice_column="origin", resamples=300)
    production = frame["production"].to_numpy() if with_production else None
    want = evaluate.candidate_vs_production(
        frame["late"].to_numpy(), frame["candidate"].to_numpy(), production, 0.5, options,
        frame["origin"].to_numpy().astype(str))
    got = distributed_eval.compare(client, folder, "late", "candidate",
                                   "production" if with_production else None, 0.5, options,
                                   bins)
    assert got[2]["auc_bins"] == bins
    assert (got[2]["roc_auc_error_bound"]["delta"] is None) == (not with_production)
    assert got[1]["values"]["ZZZ"] is None, "a slice under min_slice_rows is not judged"
    assert_close(got[0], want[0])
    assert {k: v for k, v in got[1].items() if k != "values"} == \
        {k: v for k, v in want[1].items() if k != "values"}
    assert_close(got[1]["values"], want[1]["values"])

    def verdict(metrics, slices):
        evaluation = {"holdout": {"classes": [0, 1]}, "metrics": metrics,
                      "models": {"candidate": "c", "production": "p" if with_production
                                 else None}}
        return gate.decide(evaluation, slices, P.gate).to_dict()

    assert verdict(*got[:2]) == verdict(*want)


def test_on_the_grid_the_dask_auc_is_within_its_reported_bound_of_the_exact_auc(client,
                                                                                tmp_path):
    """Continuous scores (all distinct) on a coarse grid of 64 bins: the AUC moves, by no more
    than the bound evaluation.json reports; the threshold metrics and losses do not move."""
    from iterate.core import evaluate
    from iterate.repo import distributed_eval

    rng = np.random.default_rng(3)
    y = (rng.random(4000) < 0.3).astype("int8")
    frame = pd.DataFrame({"late": y, "candidate": np.clip(0.3 * y + rng.random(4000) * 0.7, 0, 1),
                          "production": np.clip(0.2 * y + rng.random(4000) * 0.8, 0, 1)})
    folder = parquet_folder(tmp_path / "scored", frame, [1000, 2500])
    options = dataclasses.replace(P.evaluate, slice_column=None, resamples=200)
    want, _ = evaluate.candidate_vs_production(
        y, frame["candidate"].to_numpy(), frame["production"].to_numpy(), 0.5, options)
    metrics, _, sketch = distributed_eval.compare(client, folder, "late", "candidate",
                                                  "production", 0.5, options, 64)
    bound = sketch["roc_auc_error_bound"]
    for side in ("candidate", "production", "delta"):
        error = abs(metrics["roc_auc"][side] - want["roc_auc"][side])
        assert 0 < bound[side] < 0.02 and error <= bound[side] + 1e-6, (side, error, bound)
    assert metrics["roc_auc"]["candidate"] != want["roc_auc"]["candidate"], "64 bins move it"
    for metric in ("f1", "accuracy", "log_loss", "brier"):
        assert_close(metrics[metric], want[metric], metric)


@pytest.mark.parametrize("rows", [(2500, 1800), (14000, 12000)], ids=["exact-ks", "asymp-ks"])
def test_dask_drift_statistics_give_the_local_drift_report(client, tmp_path, rows):
    """Every number of the report from counts merged over parts (ties, missing values and a
    new category across them), KS p-values on both sides of scipy's exact limit."""
    from iterate.core import drift
    from iterate.repo import distributed_drift

    n_ref, n_cur = rows
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"distance": np.round(rng.normal(800, 300, n_ref), 0),
                        "temp": rng.normal(5, 3, n_ref),
                        "origin": rng.choice(["EWR", "JFK", "LGA"], n_ref),
                        "late": (rng.random(n_ref) < 0.25).astype("int8")})
    cur = pd.DataFrame({"distance": np.round(rng.normal(900, 320, n_cur), 0),
                        "temp": rng.normal(5.05, 3, n_cur),
                        "origin": rng.choice(["EWR", "JFK", "LGA", "BOS"], n_cur),
                        "late": (rng.random(n_cur) < 0.3).astype("int8")})
    cur.loc[::40, "distance"] = np.nan
    cur.loc[::70, "origin"] = None
    kinds = {"distance": "numeric", "temp": "numeric", "origin": "categorical",
             "late": "categorical"}
    got = distributed_drift.drift_statistics(
        client, parquet_folder(tmp_path / "ref", ref, [n_ref // 3]),
        parquet_folder(tmp_path / "cur", cur, [100, n_cur // 2]), kinds, P.drift)
    want = drift.compare(ref, cur, kinds, P.drift)
    assert drift.to_dict(got) == drift.to_dict(want)
    for name in ("distance", "origin", "late"):  # to the bit (the tests' p-values too)
        for score in ("statistic", "p_value", "p_value_corrected", "effect_size"):
            assert getattr(got.column(name), score) == getattr(want.column(name), score)
    assert want.drifted and want.column("origin").unseen_categories == ["BOS"]


def test_the_drift_step_on_the_dask_engine_writes_the_local_engine_s_files(model, tmp_path,
                                                                          monkeypatch):
    """The train stage's drift step (production judged on the newest batch) with
    compute.engine: dask on a LocalCluster of 2 processes: the drift JSON (statistics, effect
    sizes, statuses, dataset_drift), the monitor, advice, DVC numbers and drift history are
    the local engine's, byte for byte; the staged parts are removed."""
    pytest.importorskip("distributed", reason="the dask extra: `make setup-dask` installs it")
    import argparse

    from iterate.repo import distributed_drift
    from iterate.stages import drift as step

    on_cluster = []
    judged = distributed_drift.drift_statistics
    monkeypatch.setattr(distributed_drift, "drift_statistics",
                        lambda *a, **k: on_cluster.append(a[1]) or judged(*a, **k))
    folder, _ = model
    holdout = tmp_path / "holdout.parquet"
    contract.validate(week(2, step=2), P.contract).good.assign(
        batch_id="2013-01-08_2013-01-14").to_parquet(holdout, index=False)
    written = {}
    for engine in ("local", "dask"):
        out = tmp_path / engine
        out.mkdir()
        args = argparse.Namespace(
            holdout=holdout, baseline=folder, challenger=out / "challenger",
            drift=out / "drift.json", monitor=out / "monitor.json", advice=out / "advice.json",
            drift_numbers=out / "numbers.json", history=out / "history",
            baseline_scores=out / "scores.parquet", baseline_shuffled=out / "shuffled.parquet")
        step.judge_production(args, dataclasses.replace(P, compute=params.Compute(engine, None,
                                                                                  2)))
        written[engine] = {f.relative_to(out).as_posix(): f.read_bytes()
                           for f in sorted(out.rglob("*")) if f.is_file()}
    assert len(on_cluster) == 1, "the dask engine's statistics come from the cluster"
    assert on_cluster[0].parent.parent == tmp_path / "dask", "parts staged beside drift.json"
    assert sorted(written["dask"]) == sorted(written["local"]), "no staged parts left"
    assert written["dask"] == written["local"]
    report = json.loads(written["dask"]["drift.json"])
    assert report["n_tested"] > 10 and {c["status"] for c in report["columns"].values()} == \
        {"drift", "stable"}


def test_the_evaluate_stage_on_the_dask_engine_writes_the_local_metrics(tmp_path):
    pytest.importorskip("distributed", reason="the dask extra: `make setup-dask` installs it")
    from iterate.core import evaluate
    from iterate.repo import distributed_eval

    frame = scored_holdout(1200, seed=9)
    options = dataclasses.replace(P.evaluate, slice_column="origin", min_slice_rows=100,
                                  resamples=200)
    args = (frame["late"].to_numpy(), frame["candidate"].to_numpy(),
            frame["production"].to_numpy(), 0.4, options, frame["origin"].to_numpy())
    got = distributed_eval.compare_arrays(params.Compute("dask", None, 2), tmp_path, *args)
    want = evaluate.candidate_vs_production(*args)
    assert_close(got[0], want[0])
    assert_close(got[1], want[1])
    assert got[2]["auc_bins"] == 2**20, "the default grid"
    assert list(tmp_path.iterdir()) == [], "the staged parts are removed"


# --- a refit streamed over partitions -----------------------------------------------------

def test_a_chain_of_tasks_passes_its_state_in_order_and_stops_at_the_first_refusal(client):
    from iterate.repo import cluster

    def add(state, item, refuse_at):  # a closure: cloudpickle sends it by value
        if item == refuse_at:
            raise IterateError(f"item {item} refused")
        return [*state, item]

    items = [(i,) for i in range(6)]
    assert cluster.run_chain(client, add, [], items, refuse_at=None) == list(range(6))
    with pytest.raises(IterateError, match="item 2 refused"):
        cluster.run_chain(client, add, [], items, refuse_at=2)
    assert cluster.run_chain(client, add, ["x"], [], refuse_at=None) == ["x"]


def test_a_streamed_refit_on_the_cluster_is_the_local_engine_s_to_the_byte(tmp_path,
                                                                          monkeypatch):
    """train.fit: stream on a LocalCluster of 2 processes (a chain of partial_fit tasks, one
    per row group and epoch) against the same loop in this process: the same coefficients,
    to the bit, and the same bundle bytes (so the same SHA-256 in the registry). On the
    cluster this process never reads a row group: the rows stay on the workers."""
    pytest.importorskip("distributed", reason="the dask extra: `make setup-dask` installs it")
    import pyarrow as pa
    import pyarrow.parquet as pq
    from helpers import typed_weeks

    from iterate.repo import streaming

    rows = typed_weeks(9000).reset_index(drop=True)
    path = tmp_path / "train.parquet"
    pq.write_table(pa.Table.from_pandas(rows, preserve_index=False), path, row_group_size=1000)
    fitted, files = {}, {}
    for engine in ("local", "dask"):
        if engine == "dask":
            def refused(*args, **kwargs):
                raise AssertionError("the client read a row group")

            monkeypatch.setattr(pq.ParquetFile, "read_row_group", refused)
        fitted[engine] = streaming.fit_file(
            path, "streamed", sgd_model(), P.contract, 500,
            fit_estimator=streaming.streamed(path, P.contract, 2,
                                             params.Compute(engine, None, 2)))
        bundles.save(fitted[engine], tmp_path / engine)
        files[engine] = {f.name: f.read_bytes() for f in sorted((tmp_path / engine).iterdir())}
    local, dask = fitted["local"].pipeline[-1], fitted["dask"].pipeline[-1]
    assert local.t_ == dask.t_ == 1 + 2 * 9000, "every row of every epoch learnt once"
    assert local.coef_.tobytes() == dask.coef_.tobytes()
    assert local.intercept_.tobytes() == dask.intercept_.tobytes()
    assert files["dask"] == files["local"]
    assert bundles.read_meta(tmp_path / "dask")["sha256"] == \
        bundles.read_meta(tmp_path / "local")["sha256"]


# --- the loop, end to end ----------------------------------------------------------------

@pytest.mark.slow
def test_three_iterations_on_the_dask_engine_give_the_local_registry_verdicts_and_metrics(
        tmp_path):
    """Land (contract per partition on the cluster), `dvc repro` (the drift step from merged
    counts, a train.fit: stream refit as a chain of partial_fit tasks and the evaluation from
    merged summaries, on the cluster), promote when the gate allows, commit: three iterations
    in two copies of the template, one per engine, give the same versions, models (SHA-256),
    drift reports, verdicts and metrics."""
    pytest.importorskip("distributed")
    import yaml
    from conftest import make_template_repo
    from helpers import SGD_PARAMS, source_rows

    rows = source_rows(12_500)
    day = rows["time_hour"].str.slice(8, 10).astype(int)
    weeks = {n: rows[(day >= first) & (day <= last)].iloc[::2]  # four batches of 3-4 days
             for n, (first, last) in enumerate(((1, 4), (5, 8), (9, 11), (12, 15)), 1)}
    seen = {}
    for engine in ("local", "dask"):
        repo = make_template_repo(tmp_path / engine)
        repo.set_params(**SGD_PARAMS, **{"compute.engine": engine, "compute.workers": 2,
                                         "train.fit": "stream", "train.epochs": 3})
        repo.git("commit", "-qam", f"engine {engine}")
        for n, frame in weeks.items():
            frame.to_parquet(tmp_path / engine / f"week{n}.parquet", index=False)
        verdicts, evaluations, drifts, notes = [], [], [], []
        for files in (["week1.parquet", "week2.parquet"], ["week3.parquet"], ["week4.parquet"]):
            repo.iterate("land", *[str(tmp_path / engine / f) for f in files])
            repo.dvc("repro")
            gate = json.loads((repo.path / "metrics/gate.json").read_text())
            verdicts.append(gate["verdict"])
            evaluation = json.loads((repo.path / "metrics/evaluation.json").read_text())
            evaluations.append({k: evaluation.get(k) for k in ("holdout", "models", "metrics",
                                                               "thresholds", "engine")})
            drifts.append((repo.path / "metrics/drift.json").read_text())
            notes.append(json.loads((repo.path / "models/candidate/model.json").read_text())
                         ["note"])
            if gate["promotable"]:
                repo.iterate("promote")
            repo.git("add", "-A")
            repo.git("commit", "-qm", "iteration", check=False)
        registry = yaml.safe_load((repo.path / "models/registry.yaml").read_text())["versions"]
        seen[engine] = {
            "verdicts": verdicts, "evaluations": evaluations, "drifts": drifts, "notes": notes,
            "registry": [(e["version"], e["model_sha256"], e["gate"]["verdict"]) for e in registry]}

    local, dask = seen["local"], seen["dask"]
    assert local["verdicts"][0] == "no_baseline" and local["registry"], "a version was released"
    assert dask["verdicts"] == local["verdicts"]
    assert dask["registry"] == local["registry"], "the same versions of the same models"
    assert all("partial_fit: 3 passes over" in note for note in local["notes"]), local["notes"]
    assert json.loads(local["drifts"][1])["columns"], "production judged from iteration 2"
    assert dask["drifts"] == local["drifts"], "the same drift reports, byte for byte"
    for got, want in zip(dask["evaluations"], local["evaluations"], strict=True):
        sketch, auc = got.pop("engine"), got["metrics"].pop("roc_auc")
        assert want.pop("engine") is None and sketch["auc_bins"] == 2**20
        for side, bound in sketch["roc_auc_error_bound"].items():  # the AUC on the grid
            if bound is not None:
                assert abs(auc[side] - want["metrics"]["roc_auc"][side]) <= bound + 2e-6, side
        want["metrics"].pop("roc_auc")
        assert_close(got, want)
