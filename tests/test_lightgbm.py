"""LightGBM as a model choice (docs/make-it-yours.md#lightgbm, docs/scale.md#what-runs-where):
``iterate.core.boosting.LightGBMClassifier`` fits in process on the local engine and through
``lightgbm.dask`` on a 2-process LocalCluster with ``compute.engine: dask``; it is saved as
LightGBM's text model held as plain data (no pickle, no LightGBM object in the file), and loaded
through the exact allow-list, the SHA-256 and the size bounds, with its text checked before
LightGBM's parser sees it. Crafted bundles are refused in one line and run nothing."""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from helpers import ROOT, full_fit, shipped_params, typed_weeks

from iterate import params
from iterate.core import boosting, estimators, features
from iterate.errors import IterateError
from iterate.repo import bundles

P = shipped_params()
LGBM = dataclasses.replace(P.model, estimator="iterate.core.boosting.LightGBMClassifier",
                           params={"n_estimators": 60, "num_leaves": 15})
HOLDOUT_WEEK = "week-4"
# The dask fit's holdout ROC AUC is within this of the local fit's on the same rows (measured
# here: 0.6486 against 0.6438; log loss 0.5496 against 0.5537). Distributed LightGBM is not
# bit-identical to a local fit: each worker bins its share of the features from its own
# partition's rows and the histograms are summed across workers in another order, so a split
# moves by a bin now and then. 0.01 is 7% of the model's lift over chance (0.5), so a fit that
# lost a partition's rows or mixed their labels fails.
AUC_TOLERANCE = 0.01
LOG_LOSS_TOLERANCE = 0.01  # the same, relative to the local fit's holdout log loss


@pytest.fixture(scope="module")
def rows():
    """Four weeks to train on and the fifth as the holdout."""
    typed = typed_weeks(35_000)
    return typed[typed["batch_id"] < HOLDOUT_WEEK], typed[typed["batch_id"] == HOLDOUT_WEEK]


@pytest.fixture(scope="module")
def local(rows, tmp_path_factory):
    """The local engine's fit (in process), saved."""
    folder = tmp_path_factory.mktemp("local")
    started = time.perf_counter()
    bundle = full_fit(rows[0], LGBM, folder / "fit", reference_rows=500)
    bundle.meta["fit_seconds"] = time.perf_counter() - started
    bundles.save(bundle, folder / "model")
    return bundle, folder / "model"


def schema_of(folder: Path) -> dict:
    with zipfile.ZipFile(folder / bundles.MODEL_FILE) as archive:
        return json.loads(archive.read("schema.json"))


# --- the model choice ----------------------------------------------------------------------

def test_lightgbm_by_its_own_class_is_refused_naming_ours():
    chosen = dataclasses.replace(P.model, estimator="lightgbm.LGBMClassifier", params={})
    with pytest.raises(IterateError, match=r"model\.estimator: 'lightgbm\.LGBMClassifier' holds "
                                           r"its booster as a native object.*name iterate\.core"
                                           r"\.boosting\.LightGBMClassifier"):
        estimators.make(chosen)


@pytest.mark.parametrize(("changes", "problem"), [
    ({"num_leaves": 1}, "num_leaves must be an integer from 2 to 131072, not 1"),
    ({"learning_rate": 0}, "learning_rate must be a number > 0.0, not 0"),
    ({"subsample": 1.5}, "subsample must be a number in (0, 1], not 1.5"),
    ({"max_bin": 2**31}, "max_bin must be an integer from 2 to 2147483647, not 2147483648"),
    ({"max_depth": 2**31}, "max_depth must be an integer from -1 to 2147483647, not 2147483648"),
    ({"min_child_samples": 2**40}, "min_child_samples must be an integer from 0 to 2147483647"),
    ({"n_trees": 5}, "model.params.n_trees: not a parameter of LightGBMClassifier"),
])
def test_wrong_lightgbm_params_are_one_line_naming_them(changes, problem):
    chosen = dataclasses.replace(LGBM, params={**LGBM.params, **changes})
    with pytest.raises(IterateError, match=re.escape(problem)) as caught:
        estimators.make(chosen)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("label", [0, 1])
def test_rows_of_one_class_are_refused_not_fitted_as_the_other(label):
    """lightgbm codes the classes it sees: rows all of class 1 would fit P(1) near 0."""
    x = np.random.default_rng(0).normal(size=(60, 3))
    with pytest.raises(ValueError, match="needs rows of both classes"):
        boosting.LightGBMClassifier(n_estimators=2).fit(x, np.full(60, label))


def test_the_model_file_gets_the_tree_features_and_the_seed():
    from iterate.core import training

    pipeline = training.build(LGBM, P.contract)
    final = pipeline[-1]
    assert isinstance(final, boosting.LightGBMClassifier)
    assert final.random_state == LGBM.seed
    numeric, categorical = features.numeric_and_categorical(P.contract)
    assert final.categorical_features == list(range(len(numeric), len(numeric) + len(categorical)))


# --- saved without pickle --------------------------------------------------------------------

def test_the_saved_model_is_lightgbm_text_as_plain_data(local):
    bundle, folder = local
    nodes = {bundles._identify(n) for n in bundles._nodes(schema_of(folder))}
    names = {name for _, name in nodes}
    assert ("ObjectNode", "iterate.core.boosting.LightGBMClassifier") in nodes
    assert not {n for n in names if n.startswith("lightgbm")}, "no LightGBM object is stored"
    with zipfile.ZipFile(folder / bundles.MODEL_FILE) as archive:
        assert all(re.fullmatch(r"schema\.json|\d+\.npy", n) for n in archive.namelist())
    text = bundle.pipeline[-1].booster_text_
    assert text.startswith("tree\nversion=v4\nnum_class=1\n")
    stored = booster_node(schema_of(folder))["booster_text_"]
    assert stored["__loader__"] == "JsonNode" and json.loads(stored["content"]) == text, \
        "the booster is a JSON string of the schema"


def test_a_lightgbm_model_saved_and_loaded_predicts_exactly_as_fitted(local, rows):
    bundle, folder = local
    loaded = bundles.load(folder)
    assert loaded.kind == "LightGBMClassifier"
    assert np.array_equal(loaded.predict_proba(rows[1]), bundle.predict_proba(rows[1]))


def test_the_same_rows_give_the_same_model_bytes(local, rows, tmp_path):
    again = full_fit(rows[0], LGBM, tmp_path / "fit", reference_rows=500)
    bundles.save(again, tmp_path / "model")
    assert bundles.file_sha256(tmp_path / "model" / bundles.MODEL_FILE) == \
        bundles.file_sha256(local[1] / bundles.MODEL_FILE)


# --- crafted bundles -------------------------------------------------------------------------

class Marker:
    """Pickles as a call that creates ``path``: what a smuggled pickle would run."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return open, (str(self.path), "w")


def booster_node(schema: dict) -> dict:
    return booster_node_of(schema)["content"]["content"]


def craft(good: Path, out: Path, change, rehash: bool = True) -> Path:
    """A copy of the bundle ``good`` whose schema ``change(schema)`` edits (or whose archive it
    returns as bytes), its model.json updated to the new file's SHA-256 (as an attacker who can
    commit would do) unless ``rehash`` is false."""
    import shutil

    shutil.copytree(good, out)
    with zipfile.ZipFile(good / bundles.MODEL_FILE) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    schema = json.loads(members["schema.json"])
    data = change(schema)
    if data is None:
        members["schema.json"] = json.dumps(schema).encode()
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in members.items():
                archive.writestr(name, content)
        data = buffer.getvalue()
    (out / bundles.MODEL_FILE).write_bytes(data)
    if rehash:
        meta = json.loads((out / bundles.META_FILE).read_text())
        meta["sha256"] = bundles.file_sha256(out / bundles.MODEL_FILE)
        (out / bundles.META_FILE).write_text(json.dumps(meta))
    return out


def resized(text: str) -> str:
    """``text`` with its tree_sizes recomputed from its trees (as a crafter would)."""
    head, _, rest = text.partition("\n\n")
    trees, end, tail = rest.partition("end of trees\n")
    blocks = re.split(r"(?=^Tree=\d+\n)", trees, flags=re.M)[1:]
    sizes = " ".join(str(len(b)) for b in blocks)
    return re.sub(r"^tree_sizes=.*$", f"tree_sizes={sizes}", head, flags=re.M) + "\n\n" + \
        rest


def edit_text(edit, keep_sizes: bool = True):
    def change(schema):
        node = booster_node(schema)["booster_text_"]
        text = edit(json.loads(node["content"]))
        node["content"] = json.dumps(resized(text) if keep_sizes and "Tree=0" in text else text)
    return change


def set_attribute(name, node):
    def change(schema):
        booster_node(schema)[name] = node
    return change


def swap_line(prefix: str, new: str):
    return edit_text(lambda t: re.sub(rf"^{re.escape(prefix)}.*$", new, t, count=1, flags=re.M))


def archive_with(extra: dict[str, bytes]):
    def change(schema):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("schema.json", json.dumps(schema))
            for name, content in extra.items():
                archive.writestr(name, content)
        return buffer.getvalue()
    return change


def reduce_call(module: str, name: str, *args) -> dict:
    return {"__class__": name, "__module__": module, "__loader__": "ConstructorFromReduceNode",
            "content": {"__class__": "tuple", "__module__": "builtins",
                        "__loader__": "TupleNode", "content": [
                            {"__class__": type(a).__name__, "__module__": "builtins",
                             "__loader__": "JsonNode", "content": json.dumps(a),
                             "is_json": True} for a in args]}}


def only_the_classifier(schema):
    """The schema of the pipeline's classifier alone, as the file's top object."""
    node = {**booster_node_of(schema), "protocol": schema["protocol"]}
    schema.clear()
    schema.update(node)


def booster_node_of(schema: dict) -> dict:
    (node,) = [n for n in bundles._nodes(schema)
               if n.get("__class__") == "LightGBMClassifier"]
    return node


def one_input_more(schema):
    """The classifier and its text declaring one input more than the pipeline's features."""
    node = booster_node(schema)
    text = json.loads(node["booster_text_"]["content"])
    width = int(re.search(r"^max_feature_idx=(\d+)$", text, flags=re.M)[1]) + 1
    text = text.replace(f"max_feature_idx={width - 1}\n", f"max_feature_idx={width}\n")
    text = re.sub(r"^((?:feature_names|feature_infos)=.*)$",
                  lambda m: m[1] + (f" Column_{width}" if m[1][8] == "n" else " none"), text,
                  count=2, flags=re.M)
    node["booster_text_"]["content"] = json.dumps(text)
    node["n_features_in_"] = {"__class__": "int", "__module__": "builtins",
                              "__loader__": "JsonNode", "content": str(width + 1),
                              "is_json": True, "__id__": 10**6}


def cases(markers: Path) -> dict[str, tuple]:
    """case: (change, what the one-line refusal says)."""
    payload = pickle.dumps(Marker(markers / "pickle-ran"))
    return {
        "header_feature_count": (swap_line("max_feature_idx=", "max_feature_idx=100000"),
                                 "header line 'max_feature_idx=100000'"),
        "header_num_class": (swap_line("num_class=", "num_class=2000000000"),
                             "header line 'num_class=2000000000'"),
        "header_version": (swap_line("version=", "version=v9"), "header line 'version=v9'"),
        "header_objective": (swap_line("objective=", "objective=custom"), "objective"),
        "sigmoid_infinite": (swap_line("objective=", "objective=binary sigmoid:1e999"),
                             "objective 'objective=binary sigmoid:1e999'"),
        "leaf_value_infinite": (edit_text(lambda t: re.sub(  # with a -inf leaf: NaN
            r"^leaf_value=\S+", "leaf_value=inf", t, count=1, flags=re.M)),
            "leaf_value holds a number that is not finite"),
        "header_extra_line": (edit_text(lambda t: t.replace("label_index=0\n",
                                                            "label_index=0\nlinear_tree=1\n")),
                              "header of 11 lines"),
        "tree_sizes_overrun": (edit_text(lambda t: re.sub(
            r"^tree_sizes=(\d+)", lambda m: f"tree_sizes={int(m[1]) + 4000}", t, flags=re.M),
            keep_sizes=False), "tree_sizes that do not match its tree 1"),
        "trees_run_together": (edit_text(lambda t: t.replace("\n\n\nTree=1\n", "\nTree=1\n", 1)),
                               "lines do not end in the blank lines LightGBM writes"),
        "last_tree_runs_into_the_end": (edit_text(lambda t: t.replace(
            "\n\n\nend of trees\n", "\nend of trees\n")),
            "lines do not end in the blank lines LightGBM writes"),
        "child_out_of_range": (edit_text(lambda t: re.sub(
            r"^left_child=-?\d+", "left_child=99999", t, count=1, flags=re.M)),
            "children do not make a tree"),
        "split_feature_out_of_range": (edit_text(lambda t: re.sub(
            r"^split_feature=\d+", "split_feature=4096", t, count=1, flags=re.M)),
            "split_feature names a feature"),
        "parameter_breaks_lightgbm_json": (edit_text(lambda t: t.replace(
            "[objective: binary]", '[objective: binary", "x": {"a": 1}, "y": "]')),
            "booster parameter line"),
        "pandas_categorical_payload": (edit_text(lambda t: t.replace(
            "pandas_categorical:null", "pandas_categorical:[\"__import__('os')\"]")),
            "end is not LightGBM's"),
        "oversized_text": (edit_text(lambda t: t + " " * (boosting.MAX_TEXT_CHARS + 1)),
                           "more than the 64 Mi"),
        "booster_not_a_string": (set_attribute("booster_text_", {
            "__class__": "list", "__module__": "builtins", "__loader__": "ListNode",
            "content": []}), "a booster of type list"),
        "pickle_as_booster_text": (edit_text(lambda _: payload.decode("latin-1")),
                                   "characters LightGBM never writes"),
        "pickle_member": (archive_with({"booster.pkl": payload}),
                          "holds a member 'booster.pkl'"),
        "pickle_loads_node": (set_attribute("booster_text_", reduce_call(
            "pickle", "loads", payload.decode("latin-1"))), "holds pickle.loads"),
        "lightgbm_booster_node": (set_attribute("_booster", {
            "__class__": "Booster", "__module__": "lightgbm.basic", "__loader__": "ObjectNode",
            "content": {"__class__": "dict", "__module__": "builtins", "__loader__": "DictNode",
                        "content": {}, "key_types": {"__class__": "list",
                                                     "__module__": "builtins",
                                                     "__loader__": "ListNode", "content": []}}}),
            "holds lightgbm.basic.Booster"),
        "whole_file_a_pickle": (lambda _: payload, "not a skops file"),
        "one_input_more": (one_input_more, "inputs, but the pipeline's features are"),
        "schema_of_empty_lists": (lambda schema: schema.update(x=[[]] * 1_000_001),
                                  "JSON values, more than the 1000000"),
        "schema_of_floats": (lambda schema: schema.update(x=[0.0] * 1_000_001),
                             "more than the 1000000 any model iterate makes can need"),
        "classifier_without_its_pipeline": (only_the_classifier,
                                            "holds a LightGBMClassifier, not the scikit-learn "
                                            "Pipeline"),
    }


CASES = list(cases(Path("/nonexistent")))


@pytest.mark.parametrize("case", CASES)
def test_a_crafted_lightgbm_bundle_is_refused_in_one_line_and_runs_nothing(
        local, rows, tmp_path, monkeypatch, case):
    markers = tmp_path / "markers"
    markers.mkdir()
    change, shown = cases(markers)[case]
    folder = craft(local[1], tmp_path / case, change)
    import lightgbm

    def parser_reached(*args, **kwargs):
        raise AssertionError("LightGBM's parser saw a text that was not checked")

    monkeypatch.setattr(lightgbm, "Booster", parser_reached)
    with pytest.raises(IterateError) as caught:
        bundles.load(folder).predict_proba(rows[1])
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"{folder / bundles.MODEL_FILE}: ")
    assert "refusing to load it" in message
    assert shown in message
    assert list(markers.iterdir()) == [], "a payload ran"


def test_a_booster_edited_after_saving_fails_the_sha256(local, tmp_path):
    folder = craft(local[1], tmp_path / "edited",
                   edit_text(lambda t: t.replace("leaf_value=", "leaf_value=9", 1)),
                   rehash=False)
    with pytest.raises(IterateError, match="does not match model.json"):
        bundles.load(folder)


def test_the_check_is_what_refuses_a_tree_lightgbm_s_parser_takes(local):
    """LightGBM's parser takes a tree whose child points outside it (predicting with it would
    read past its arrays): the check refuses it before the parser runs."""
    import lightgbm

    text = local[0].pipeline[-1].booster_text_
    tampered = resized(re.sub(r"^left_child=-?\d+", "left_child=99999", text, count=1,
                              flags=re.M))
    assert lightgbm.Booster(model_str=tampered).num_trees() == text.count("\nTree=")
    with pytest.raises(boosting.ModelTextError, match="children do not make a tree"):
        boosting.check_text(tampered, local[0].pipeline[-1].n_features_in_)


def written_text(trees: list[str]) -> str:
    """A text model of 4 features as LightGBM writes it, of the given tree blocks."""
    blocks = [f"Tree={i}\n{tree}\n\n\n" for i, tree in enumerate(trees)]
    names = " ".join(f"Column_{i}" for i in range(4))
    return (f"tree\nversion=v4\nnum_class=1\nnum_tree_per_iteration=1\nlabel_index=0\n"
            f"max_feature_idx=3\nobjective=binary sigmoid:1\nfeature_names={names}\n"
            f"feature_infos=[-3:3] [-3:3] [-3:3] 0:1:2:3:4\n"
            f"tree_sizes={' '.join(str(len(b)) for b in blocks)}\n\n{''.join(blocks)}"
            "end of trees\n\nfeature_importances:\nColumn_0=2\n\nparameters:\n"
            "[boosting: gbdt]\n\nend of parameters\n\npandas_categorical:null\n")


def split_tree(num_cat: int, decisions: str, thresholds: str, bounds: str, cats: str) -> str:
    return "\n".join([
        "num_leaves=4", f"num_cat={num_cat}", "split_feature=0 3 3", "split_gain=1 1 1",
        f"threshold={thresholds}", f"decision_type={decisions}", "left_child=1 -1 -2",
        "right_child=2 -3 -4", "leaf_value=0.1 0.2 0.3 0.4", "leaf_weight=1 1 1 1",
        "leaf_count=1 1 1 1", "internal_value=0 0 0", "internal_weight=1 1 1",
        "internal_count=4 2 2", f"cat_boundaries={bounds}", f"cat_threshold={cats}",
        "is_linear=0", "shrinkage=0.1"])


PREDICTS = """
import sys, numpy as np, lightgbm
booster = lightgbm.Booster(model_str=open(sys.argv[1]).read())
print(booster.predict(np.array([[x, 0, 0, c] for x in (-0.5, 0.5) for c in range(5)]),
                      num_threads=1).tolist())
"""


def test_the_check_refuses_trees_lightgbm_s_parser_runs_together(tmp_path):
    """LightGBM's parser reads a tree's lines up to a blank line: a tree without it takes the
    next tree's num_cat (here 2 for its one categorical split), reads a categorical bitset it
    does not have, and the process dies at predict. The check refuses the text."""
    one = split_tree(1, "2 1 2", "0 0 0", "0 1", "4")
    two = split_tree(2, "2 1 1", "0 0 1", "0 1 2", "4 8")
    written = written_text([one, two])
    assert boosting.check_text(written, 4) == 2
    tampered = written.replace("\n\n\nTree=1\n", "\nTree=1\n")
    tampered = re.sub(r"^tree_sizes=\d+", lambda m: f"tree_sizes={len(one) + 8}", tampered,
                      flags=re.M)
    results = []
    for name, text in (("written", written), ("tampered", tampered)):
        (tmp_path / name).write_text(text)
        results.append(subprocess.run([sys.executable, "-c", PREDICTS, str(tmp_path / name)],
                                      capture_output=True, text=True, timeout=120))
    assert results[0].returncode == 0, results[0].stderr
    assert results[1].returncode != 0 or results[1].stdout != results[0].stdout, \
        "LightGBM's parser reads the trees run together as another model"
    with pytest.raises(boosting.ModelTextError, match="tree 0 whose lines do not end in the "
                                                      "blank lines LightGBM writes"):
        boosting.check_text(tampered, 4)


# --- nothing imports lightgbm or dask unless chosen ------------------------------------------

IMPORTS = """
import dataclasses, sys
from pathlib import Path
from helpers import full_fit, shipped_params, typed_weeks
from iterate.repo import bundles
rows, model = typed_weeks(3000), shipped_params().model
if sys.argv[1] == "lightgbm":
    model = dataclasses.replace(model, estimator="iterate.core.boosting.LightGBMClassifier",
                                params={"n_estimators": 5})
bundles.save(full_fit(rows, model, Path("fit"), reference_rows=100), "model")
bundles.load("model").predict_proba(rows)
print(sorted({m.split(".")[0] for m in sys.modules} & {"lightgbm", "dask", "distributed"}))
"""


@pytest.mark.parametrize(("kind", "imported"), [("shipped", "[]"), ("lightgbm", "['lightgbm']")])
def test_nothing_imports_lightgbm_unless_chosen_nor_dask_on_the_local_engine(tmp_path, kind,
                                                                              imported):
    import os

    result = subprocess.run([sys.executable, "-c", IMPORTS, kind], cwd=tmp_path,
                            capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT / 'tests'}"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == imported


def test_the_train_stage_fits_on_the_cluster_only_lightgbm_with_the_dask_engine(monkeypatch):
    from iterate.repo import distributed_fit, streaming
    from iterate.stages import train

    monkeypatch.setattr(distributed_fit, "fit_file", lambda *a, **k: "cluster")
    monkeypatch.setattr(streaming, "fit_file", lambda *a, **k: "in process")
    sgd = dataclasses.replace(P.model, estimator="sklearn.linear_model.SGDClassifier",
                              params={"loss": "log_loss"})
    dask = params.Compute("dask", None, 2)
    for model, compute, where in ((LGBM, dask, "cluster"), (LGBM, P.compute, "in process"),
                                  (sgd, dask, "in process")):
        chosen = dataclasses.replace(P, model=model, compute=compute)
        assert train.fit_full(Path("train.parquet"), "n", chosen) == where


# --- the dask engine -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def on_dask(rows, tmp_path_factory):
    """The dask engine's fit of the same rows (a LocalCluster of 2 processes), saved."""
    pytest.importorskip("distributed", reason="the dask extra: `make setup-dask` installs it")
    import pyarrow as pa
    import pyarrow.parquet as pq

    from iterate.core import training
    from iterate.repo import distributed_fit

    folder = tmp_path_factory.mktemp("dask")
    path = folder / "train.parquet"
    table = pa.Table.from_pandas(rows[0].reset_index(drop=True), preserve_index=False)
    pq.write_table(table.replace_schema_metadata(None), path, row_group_size=5000)
    started = time.perf_counter()
    bundle = distributed_fit.fit_file(path, training.full_refit_note("full", None, len(rows[0])),
                                      LGBM, P.contract, 500, params.Compute("dask", None, 2))
    bundle.meta["fit_seconds"] = time.perf_counter() - started
    bundles.save(bundle, folder / "model")
    return bundle, folder / "model"


def test_partitions_cover_every_row_once_at_least_one_per_worker():
    from iterate.repo import distributed_fit

    assert distributed_fit.bounds(10, 2) == [(0, 5), (5, 10)]
    assert distributed_fit.bounds(1, 2) == [(0, 1)]
    parts = distributed_fit.bounds(2_500_001, 2)
    assert len(parts) == 3 and parts[0][0] == 0 and parts[-1][1] == 2_500_001
    assert all(a[1] == b[0] for a, b in zip(parts, parts[1:], strict=False))


def test_a_worker_reads_exactly_its_rows_across_row_groups(rows, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from iterate.core import training
    from iterate.repo import distributed_fit

    frame = rows[0].head(1000).reset_index(drop=True)
    path = tmp_path / "t.parquet"
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), path, row_group_size=300)
    pipeline = training.build(LGBM, P.contract)
    transformer = pipeline[:-1].fit(frame[P.contract.features])
    x, y = distributed_fit.read_part(str(path), 250, 710, transformer=transformer,
                                     features=P.contract.features, label=P.contract.label,
                                     float_type=np.float64)
    want = transformer.transform(frame[P.contract.features].iloc[250:710])
    assert np.array_equal(x, want, equal_nan=True)
    assert np.array_equal(y, frame[P.contract.label].to_numpy()[250:710])


def test_the_dask_fitted_model_saved_and_loaded_predicts_exactly_as_fitted(on_dask, rows):
    bundle, folder = on_dask
    loaded = bundles.load(folder)
    assert loaded.kind == "LightGBMClassifier"
    assert loaded.meta["trained_rows"] == len(rows[0])
    assert np.array_equal(loaded.predict_proba(rows[1]), bundle.predict_proba(rows[1]))
    assert "tree_learner: data" in loaded.pipeline[-1].booster_text_, "fitted distributed"


def test_two_dask_fits_of_the_same_rows_give_the_same_model_bytes(on_dask, rows, tmp_path):
    """Part k is made on the k-th worker and LightGBM ranks the workers in part order, and the
    random ports of LightGBM's network are blanked in the text: the same inputs give the same
    model file (and dvc.lock) on the same number of workers."""
    from iterate.repo import distributed_fit

    path = on_dask[1].parent / "train.parquet"
    again = distributed_fit.fit_file(path, on_dask[0].meta["note"], LGBM, P.contract, 500,
                                     params.Compute("dask", None, 2))
    bundles.save(again, tmp_path / "model")
    assert "[machines: ]" in again.pipeline[-1].booster_text_
    assert bundles.file_sha256(tmp_path / "model" / bundles.MODEL_FILE) == \
        bundles.file_sha256(on_dask[1] / bundles.MODEL_FILE)


def test_the_dask_fit_is_as_good_as_the_local_fit_on_the_same_rows(on_dask, local, rows):
    from sklearn.metrics import log_loss, roc_auc_score

    y = rows[1][P.contract.label].to_numpy()
    scores = {name: b.predict_proba(rows[1]) for name, b in (("local", local[0]),
                                                                 ("dask", on_dask[0]))}
    auc = {name: roc_auc_score(y, s) for name, s in scores.items()}
    loss = {name: log_loss(y, s) for name, s in scores.items()}
    print(f"holdout {len(y)} rows: ROC AUC local {auc['local']:.4f} dask {auc['dask']:.4f}; "
          f"log loss local {loss['local']:.4f} dask {loss['dask']:.4f}; fit s local "
          f"{local[0].meta['fit_seconds']:.2f} dask {on_dask[0].meta['fit_seconds']:.2f}")
    assert auc["local"] > 0.62, "the local fit learnt something"
    assert abs(auc["dask"] - auc["local"]) <= AUC_TOLERANCE
    assert abs(loss["dask"] - loss["local"]) <= LOG_LOSS_TOLERANCE * loss["local"]


@pytest.mark.slow
def test_the_pipeline_on_the_dask_engine_trains_lightgbm_on_the_cluster(tmp_path):
    """`iterate replay` (landing) and `dvc repro` in a copy of the template with LightGBM chosen and
    ``compute.engine: dask``: the train stage fits through lightgbm.dask, and the candidate
    loads through the verified loader."""
    pytest.importorskip("distributed")
    from conftest import make_template_repo

    repo = make_template_repo(tmp_path)
    repo.set_params(**{"split.window": 2, "split.min_train_rows": 100,
                       "evaluate.resamples": 200, "train.mode": "full",
                       "model.estimator": LGBM.estimator, "compute.engine": "dask"})
    repo.set_params(**{"model.params": {"n_estimators": 20}})
    repo.iterate("replay", "--through", "2013-01-21")
    result = repo.dvc("repro")
    assert "train: LightGBMClassifier, full refit" in result.stdout
    candidate = bundles.load(repo.path / "models" / "candidate")
    assert candidate.kind == "LightGBMClassifier"
    assert "tree_learner: data" in candidate.pipeline[-1].booster_text_, "fitted on the cluster"
