"""Tests of iterate.params: params.yaml is read into typed dataclasses, and every unknown key,
wrong type or impossible combination is refused with a message naming the dotted key."""

from __future__ import annotations

import pytest
from helpers import PARAMS_FILE, raw_params

from iterate import params
from iterate.errors import ParamsError


def _set(raw: dict, dotted: str, value) -> dict:
    """Set ``raw[a][b][c] = value`` for ``dotted`` "a.b.c"; return ``raw``."""
    *parents, last = dotted.split(".")
    node = raw
    for name in parents:
        node = node[name]
    node[last] = value
    return raw


def _refusal(raw: dict) -> ParamsError:
    with pytest.raises(ParamsError) as caught:
        params.parse(raw)
    return caught.value


# ---------------------------------------------------------------- the shipped file


def test_shipped_params_yaml_loads_into_typed_sections():
    p = params.load(PARAMS_FILE)

    assert isinstance(p, params.Params)
    assert p.contract.time_column == "time_hour" and p.contract.label == "late"
    assert p.contract.columns["sched_dep_time"] == params.Column(dtype="int", min=0.0, max=2359.0)
    assert p.contract.columns["temp"].nullable is True
    assert p.contract.columns["carrier"].nullable is False  # the default
    assert p.split.window == 8
    assert p.model.estimator == "sklearn.ensemble.HistGradientBoostingClassifier"
    assert p.model.params["max_iter"] == 200
    assert p.backtest.model == params.SGD_LOGISTIC
    assert p.gate.rules["roc_auc"] == params.Rule(margin=0.01)
    assert p.gate.slices == params.SliceGuard(metric="roc_auc", margin=0.05)


@pytest.mark.parametrize("override", [
    "model.estimator=sklearn.linear_model.LogisticRegression", "model.params.max_iter=50",
    "backtest.model.params.alpha=0.01", "split.window=4", "backtest.window=6",
    "replay.commit=false", "gate.rules.roc_auc.margin=0.02", "contract.columns.temp.max=150"])
def test_one_dvc_set_param_changes_one_line_of_the_shipped_params_yaml(tmp_path, override):
    """``dvc exp run -S`` rewrites params.yaml with DVC's own code (Hydra overrides, ruamel
    round trip); the shipped file is already in the style it writes, comments kept."""
    from dvc.utils.hydra import apply_overrides

    copy = tmp_path / "params.yaml"
    copy.write_text(PARAMS_FILE.read_text())
    apply_overrides(copy, [override])
    before, after = PARAMS_FILE.read_text().splitlines(), copy.read_text().splitlines()
    assert len(before) == len(after)
    changed = [(old, new) for old, new in zip(before, after, strict=True) if old != new]
    assert len(changed) == 1, changed
    old, new = changed[0]
    assert "#" not in old or old[old.index("#"):] == new[new.index("#"):], "comment kept"


def test_integer_written_for_a_float_setting_becomes_a_float():
    p = params.parse(_set(raw_params(), "drift.psi_threshold", 1))

    assert p.drift.psi_threshold == 1.0
    assert isinstance(p.drift.psi_threshold, float)


def test_model_params_are_free_form_and_kept_as_written():
    """They are the estimator's keyword arguments: the estimator checks them when it is
    built (tests/test_training.py), params.yaml only that they are plain YAML values."""
    raw = _set(raw_params(), "model.params", {"n_estimators": 50, "class_weight": None,
                                              "max_features": "sqrt", "bootstrap": True,
                                              "monotonic_cst": [0, 1], "nested": {"a": 1.5}})
    p = params.parse(_set(raw, "model.estimator", "sklearn.ensemble.RandomForestClassifier"))

    assert p.model.params == raw["model"]["params"]
    assert p.model.estimator == "sklearn.ensemble.RandomForestClassifier"


# ---------------------------------------------------------------- unknown keys


@pytest.mark.parametrize("dotted", [
    "replays",                                    # top level
    "split.windows",                              # in a section
    "backtest.model.estimators",                  # two levels down
    "contract.columns.temp.nulable",              # inside a mapping of columns
    "gate.rules.roc_auc.marign",                  # inside a mapping of rules
])
def test_unknown_key_is_refused_naming_its_dotted_path(dotted):
    error = _refusal(_set(raw_params(), dotted, 1))

    assert error.key == dotted
    assert f"{dotted}: unknown key" in str(error)


def test_unknown_key_message_lists_the_known_keys_at_that_level():
    error = _refusal(_set(raw_params(), "split.windows", 3))

    assert "known keys here: window, min_train_rows" in str(error)


def test_missing_required_section_is_refused_naming_it():
    raw = raw_params()
    del raw["gate"]

    error = _refusal(raw)

    assert error.key == "gate"
    assert "required key is missing" in str(error)


# ---------------------------------------------------------------- wrong types


@pytest.mark.parametrize(("dotted", "value", "expected"), [
    ("split.min_train_rows", "1000", "expected an integer, got str '1000'"),
    ("model.seed", 4.5, "expected an integer, got float 4.5"),
    ("contract.min_rows", True, "expected an integer, got bool True"),
    ("model.threshold", True, "expected a number, got bool True"),
    ("contract.max_bad_share", "0.2", "expected a number, got str '0.2'"),
    ("model.params", [200, 0.1], "expected a mapping, got list"),
    ("model.estimator", 42, "expected a string, got int 42"),
    ("model.estimator", "RandomForestClassifier", "'RandomForestClassifier' is not a dotted path"),
    ("backtest.model", "sgd_logistic", "expected a mapping, got str 'sgd_logistic'"),
    ("contract.columns", ["temp", "dewp"], "expected a mapping, got list"),
    ("gate.rules.f1", None, "expected a mapping, got nothing"),
    ("replay.commit", "yes", "expected true or false, got str 'yes'"),
    ("contract.classes", 1, "expected a list, got int 1"),
    ("registry.name", 7, "expected a string, got int 7"),
])
def test_wrong_type_is_refused_naming_the_key_and_what_was_found(dotted, value, expected):
    error = _refusal(_set(raw_params(), dotted, value))

    assert error.key == dotted
    assert str(error).startswith(f"params.yaml: {dotted}: {expected}")


def test_wrong_type_inside_a_list_names_the_item():
    error = _refusal(_set(raw_params(), "contract.columns.carrier.values", ["AA", 9]))

    assert error.key == "contract.columns.carrier.values[1]"


@pytest.mark.parametrize(("dotted", "value", "allowed"), [
    ("train.mode", "online", "full, incremental"),
    ("train.fit", "chunks", "whole, stream"),
    ("contract.extra_columns", "keep", "refuse, drop"),
    ("contract.columns.temp.dtype", "double", "int, float, category"),
])
def test_value_outside_a_fixed_choice_is_refused_listing_the_choices(dotted, value, allowed):
    error = _refusal(_set(raw_params(), dotted, value))

    assert error.key == dotted
    assert f"is not one of {allowed}" in str(error)


# ---------------------------------------------------------------- split.window


@pytest.mark.parametrize("window", [0, -3])
def test_window_below_one_is_refused(window):
    error = _refusal(_set(raw_params(), "split.window", window))

    assert error.key == "split.window"
    assert "must be >= 1 or 'all'" in str(error)


@pytest.mark.parametrize("window", [1, "all"])
def test_window_of_one_or_all_is_accepted(window):
    assert params.parse(_set(raw_params(), "split.window", window)).split.window == window


@pytest.mark.parametrize("window", ["ALL", True, 2.5])
def test_window_neither_integer_nor_all_is_refused(window):
    assert _refusal(_set(raw_params(), "split.window", window)).key == "split.window"


# ---------------------------------------------------------------- combinations


def test_incremental_training_is_judged_on_the_built_model_at_train_start_not_at_load():
    """model.py may end its Pipeline with any classifier, so whether it has partial_fit is
    known once it is built (training.require_incremental, tests/test_training.py): loading
    params.yaml imports no estimator."""
    raw = _set(raw_params(), "train.mode", "incremental")

    p = params.parse(raw)

    assert (p.train.mode, p.model.estimator) == (
        "incremental", "sklearn.ensemble.HistGradientBoostingClassifier")


def test_unknown_gate_rule_metric_is_refused_naming_it_and_the_known_metrics():
    error = _refusal(_set(raw_params(), "gate.rules.auc", {"margin": 0.01}))

    assert error.key == "gate.rules.auc"
    assert "unknown metric" in str(error)
    assert "roc_auc" in str(error) and "log_loss" in str(error)


def test_unknown_slice_guard_metric_is_refused_naming_gate_slices_metric():
    error = _refusal(_set(raw_params(), "gate.slices.metric", "auc"))

    assert error.key == "gate.slices.metric"


@pytest.mark.parametrize(("dotted", "value", "expected"), [
    ("model.threshold", 1.0, "must be between 0 and 1"),
    ("evaluate.confidence", 0.0, "must be between 0 and 1"),
    ("contract.max_bad_share", 1.5, "must be between 0 and 1"),
    ("replay.batch_days", 0, "must be between 1 and 3660"),
    ("replay.warmup_batches", 1, "must be between 2 and 10000"),
    ("contract.classes", [0, 1, 2], "binary classification needs classes [0, 1]"),
    ("evaluate.slice_column", "airport", "'airport' is not a contract column"),
    ("contract.timezone", "Europe/Pariss", "unknown time zone 'Europe/Pariss'"),
    ("contract.timezone", "../../etc/passwd", "unknown time zone"),
    ("contract.timezone", "", "unknown time zone"),
])
def test_impossible_value_is_refused_naming_the_key(dotted, value, expected):
    error = _refusal(_set(raw_params(), dotted, value))

    assert error.key == dotted
    assert expected in str(error)


# ---------------------------------------------------------------- ranges, integers, finiteness


@pytest.mark.parametrize(("dotted", "value", "expected"), [
    ("model.seed", -1, "must be between 0 and 4294967295 (a numpy seed), got -1"),
    ("model.seed", 2**32, "got 4294967296"),
    ("evaluate.seed", -5, "must be between 0 and 4294967295"),
    ("evaluate.resamples", 10**9, "must be between 100 and 100000"),
    ("evaluate.resamples", 1e9, "must be between 100 and 100000"),
    ("evaluate.resamples", 99, "must be between 100 and 100000"),
    ("drift.bins", 10**8, "must be between 2 and 1000"),
    ("drift.bins", 1, "must be between 2 and 1000"),
    ("drift.js_threshold", 1.5, "must be between 0 and 1"),
    ("drift.severe_unseen_share", -0.1, "must be between 0 and 1"),
    ("drift.psi_threshold", -0.2, "must be between 0 and 1000000"),
    ("gate.rules.roc_auc.margin", -0.01, "must be between 0 and 1000000"),
    ("gate.rules.f1.min_improvement", -1, "must be between 0 and 1000000"),
    ("gate.slices.margin", -1, "must be between 0 and 1000000"),
    ("monitor.degradation", -0.5, "must be between 0 and 1000000"),
    ("train.reference_rows", 10**9, "must be between 100 and 10000000"),
    ("train.epochs", 0, "must be between 1 and 1000"),
    ("split.window", 10**6, "must be <= 100000"),
    ("split.min_train_rows", 0, "must be between 1 and"),
    ("evaluate.min_slice_rows", 0, "must be between 1 and"),
    ("backtest.jobs", 1000, "must be between 0 and 64"),
    ("backtest.every", 0, "must be between 1 and 100000"),
    ("replay.iterations", 0, "must be between 1 and 100000"),
])
def test_number_outside_its_range_is_refused_naming_the_key_and_the_range(dotted, value,
                                                                          expected):
    error = _refusal(_set(raw_params(), dotted, value))

    assert error.key == dotted
    assert expected in str(error)
    assert "\n" not in str(error)


@pytest.mark.parametrize("dotted", [
    "gate.rules.roc_auc.margin", "gate.slices.margin", "model.threshold",
    "model.params.learning_rate", "drift.psi_threshold",
    "contract.columns.temp.max", "monitor.degradation",
])
@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_infinite_or_nan_number_is_refused_naming_the_key(dotted, value):
    error = _refusal(_set(raw_params(), dotted, value))

    assert error.key == dotted
    assert "expected a finite number" in str(error)


def test_integral_float_for_an_integer_setting_is_accepted_as_that_integer():
    p = params.parse(_set(raw_params(), "evaluate.resamples", 2e3))

    assert p.evaluate.resamples == 2000 and isinstance(p.evaluate.resamples, int)


@pytest.mark.parametrize("value", [1000.5, float("inf"), float("nan")])
def test_inexact_float_for_an_integer_setting_is_refused(value):
    error = _refusal(_set(raw_params(), "evaluate.resamples", value))

    assert error.key == "evaluate.resamples"
    assert "expected an integer" in str(error)


@pytest.mark.parametrize(("dotted", "value"), [
    ("evaluate.resamples", 100_000), ("drift.bins", 1000), ("model.seed", 0),
    ("model.seed", 2**32 - 1), ("drift.js_threshold", 1.0), ("gate.rules.f1.margin", 0.0),
])
def test_numbers_at_the_ends_of_their_range_are_accepted(dotted, value):
    params.parse(_set(raw_params(), dotted, value))


def test_label_declared_as_a_feature_column_is_refused():
    error = _refusal(_set(raw_params(), "contract.columns.late", {"dtype": "int"}))

    assert error.key == "contract.columns.late"
    assert "not features" in str(error)


def test_column_whose_min_exceeds_its_max_is_refused():
    error = _refusal(_set(raw_params(), "contract.columns.temp.min", 200))

    assert error.key == "contract.columns.temp"
    assert "min is greater than max" in str(error)


# ---------------------------------------------------------------- load


def test_missing_params_file_is_refused_naming_the_path(tmp_path):
    missing = tmp_path / "params.yaml"

    with pytest.raises(ParamsError) as caught:
        params.load(missing)

    assert str(missing) in str(caught.value)
    assert "file not found" in str(caught.value)


def test_invalid_yaml_is_refused_in_one_line(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("split:\n  window: [8\n", encoding="utf-8")

    with pytest.raises(ParamsError) as caught:
        params.load(path)

    assert "not valid YAML" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_duplicate_key_is_refused_with_its_line_and_column(tmp_path):
    path = tmp_path / "params.yaml"
    text = PARAMS_FILE.read_text(encoding="utf-8").replace(
        "  window: 8 ", "  window: 8\n  window: 2 ", 1)
    path.write_text(text, encoding="utf-8")
    line = text.splitlines().index("  window: 2 " + text.split("  window: 2 ")[1].split("\n")[0])

    with pytest.raises(ParamsError) as caught:
        params.load(path)

    message = str(caught.value)
    assert message.startswith(f"{path}:{line + 1}:3: ")
    assert "key 'window' is given twice" in message and "\n" not in message


def test_not_utf8_params_file_is_refused_with_its_line_and_column(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_bytes(b"replay:\n  source: caf\xe9.csv\n")

    with pytest.raises(ParamsError) as caught:
        params.load(path)

    assert str(caught.value) == (f"{path}:2:14: not UTF-8 (byte 0xe9); save the file as UTF-8")


def test_invalid_yaml_names_the_file_line_and_column(tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text("split:\n  window: [8\n", encoding="utf-8")

    with pytest.raises(ParamsError) as caught:
        params.load(path)

    assert str(caught.value).startswith(f"{path}:3:1: not valid YAML")


@pytest.mark.parametrize("text", ["just a string\n", "- 1\n- 2\n", ""])
def test_params_file_that_is_not_a_mapping_is_refused_in_one_line(tmp_path, text):
    path = tmp_path / "params.yaml"
    path.write_text(text, encoding="utf-8")

    with pytest.raises(ParamsError) as caught:
        params.load(path)

    assert "expected a mapping" in str(caught.value) and "\n" not in str(caught.value)


# ---------------------------------------------------------------- SectionGuard


def test_section_guard_lets_a_declared_section_through():
    guarded = params.load(PARAMS_FILE, sections=("split",))

    assert isinstance(guarded, params.SectionGuard)
    assert guarded.split == params.load(PARAMS_FILE).split


def test_section_guard_refuses_an_undeclared_section_naming_it():
    guarded = params.load(PARAMS_FILE, sections=("split",))

    with pytest.raises(AttributeError) as caught:
        _ = guarded.model

    message = str(caught.value)
    assert "'model' is not declared" in message
    assert "declared: split" in message
    assert "dvc.yaml" in message


def test_section_guard_refuses_private_attributes():
    guarded = params.load(PARAMS_FILE, sections=("split",))

    with pytest.raises(AttributeError):
        _ = guarded._secret


@pytest.mark.parametrize(("key", "value"), [
    ("alpha", 0.0), ("correction", "bonferroni"), ("bins", 1), ("bins", 10.5),
    ("min_samples", 0), ("share_threshold", 0.0), ("psi_threshold", -0.1),
    ("js_threshold", float("nan"))])
def test_impossible_drift_thresholds_are_refused_naming_the_key(key, value):
    assert _refusal(_set(raw_params(), f"drift.{key}", value)).key == f"drift.{key}"
