"""The compatibility contract between model versions (iterate.core.compat), what the gate makes of
it, and how the registry numbers versions (iterate.repo.registry.next_version)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from helpers import shipped_params

from iterate.core import compat, gate
from iterate.core.compat import BREAKING, COMPATIBLE
from iterate.repo import registry


def meta() -> dict[str, Any]:
    """model.json's compatibility part, shaped as training.input_schema and training.describe
    write it (a fresh copy each call)."""
    return copy.deepcopy({
        "input_schema": {
            "sched_dep_time": {"dtype": "int", "nullable": False, "min": 0, "max": 2359,
                               "seen_min": 500.0, "seen_max": 2359.0},
            "distance": {"dtype": "float", "nullable": False, "min": 0, "max": 10000,
                         "seen_min": 17.0, "seen_max": 4983.0},
            "temp": {"dtype": "float", "nullable": True, "min": -60, "max": 140,
                     "seen_min": 10.9, "seen_max": 57.9},
            "origin": {"dtype": "category", "nullable": False, "min": None, "max": None,
                       "values": ["EWR", "JFK", "LGA"], "categories": ["EWR", "JFK", "LGA"]},
            "carrier": {"dtype": "category", "nullable": False, "min": None, "max": None,
                        "values": None, "categories": ["AA", "B6", "UA"]},
        },
        "output": {"classes": [0, 1], "threshold": 0.3, "probability_of": 1},
    })


def edited(edit: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    new = meta()
    edit(new)
    return new


def cols(m: dict[str, Any]) -> dict[str, Any]:
    return m["input_schema"]


def summary(changes: list[compat.Change]) -> list[tuple[str, str | None, str]]:
    return [(c.kind, c.column, c.what) for c in changes]


# ---------------------------------------------------------------- compare


def test_identical_metadata_gives_no_changes():
    assert compat.compare(meta(), meta()) == []


def test_the_range_seen_in_training_is_not_part_of_the_contract():
    new = edited(lambda m: cols(m)["distance"].update(seen_min=1.0, seen_max=9999.0))
    assert compat.compare(meta(), new) == []


BREAKING_EDITS = {
    "column removed": (lambda m: cols(m).pop("temp"), "temp", "column removed"),
    "new required column": (
        lambda m: cols(m).update(visib={"dtype": "float", "nullable": False, "min": 0,
                                        "max": 100}),
        "visib", "new required column"),
    "dtype float to int": (lambda m: cols(m)["distance"].update(dtype="int"),
                           "distance", "dtype float -> int"),
    "numeric to category": (
        lambda m: cols(m)["distance"].update(dtype="category", min=None, max=None, values=None,
                                             categories=["short", "long"]),
        "distance", "dtype float -> category"),
    "nullable to not nullable": (lambda m: cols(m)["temp"].update(nullable=False),
                                 "temp", "no longer nullable"),
    "accepted min raised": (lambda m: cols(m)["temp"].update(min=-20),
                            "temp", "accepted min narrowed -60 -> -20"),
    "accepted max lowered": (lambda m: cols(m)["distance"].update(max=5000),
                             "distance", "accepted max narrowed 10000 -> 5000"),
    "accepted values narrowed": (lambda m: cols(m)["origin"].update(values=["EWR", "JFK"]),
                                 "origin", "accepted values narrowed"),
    "accepted values newly restricted": (
        lambda m: cols(m)["carrier"].update(values=["AA", "B6", "UA"]),
        "carrier", "accepted values narrowed"),
    "class added": (lambda m: m["output"].update(classes=[0, 1, 2]), None, "class 2 added"),
    "class removed": (lambda m: m["output"].update(classes=[1]), None, "class 0 removed"),
}


@pytest.mark.parametrize("edit, column, what", BREAKING_EDITS.values(), ids=BREAKING_EDITS)
def test_a_change_that_can_refuse_what_production_accepted_is_breaking(edit, column, what):
    changes = compat.compare(meta(), edited(edit))

    assert (BREAKING, column, what) in summary(changes)
    assert compat.breaking(changes), "breaking() must return it"


def test_a_bound_where_there_was_none_is_breaking():
    old = edited(lambda m: cols(m)["temp"].update(max=None))

    assert summary(compat.compare(old, meta())) == [
        (BREAKING, "temp", "accepted max narrowed None -> 140")]


COMPATIBLE_EDITS = {
    "new optional column": (
        lambda m: cols(m).update(visib={"dtype": "float", "nullable": True, "min": 0,
                                        "max": 100}),
        "visib", "new optional column"),
    "int to float": (lambda m: cols(m)["sched_dep_time"].update(dtype="float"),
                     "sched_dep_time", "dtype int -> float"),
    "now nullable": (lambda m: cols(m)["distance"].update(nullable=True),
                     "distance", "now nullable"),
    "min lowered": (lambda m: cols(m)["temp"].update(min=-80),
                    "temp", "accepted min widened -60 -> -80"),
    "max raised": (lambda m: cols(m)["distance"].update(max=20000),
                   "distance", "accepted max widened 10000 -> 20000"),
    "bound dropped": (lambda m: cols(m)["distance"].update(max=None),
                      "distance", "accepted max widened 10000 -> None"),
    "accepted values widened": (
        lambda m: cols(m)["origin"].update(values=["EWR", "JFK", "LGA", "SWF"]),
        "origin", "accepted values widened"),
    "accepted values unrestricted": (lambda m: cols(m)["origin"].update(values=None),
                                     "origin", "accepted values widened"),
    "new category": (lambda m: cols(m)["carrier"].update(categories=["AA", "B6", "UA", "WN"]),
                     "carrier", "new categories: WN"),
    "category no longer known": (
        lambda m: cols(m)["carrier"].update(categories=["AA", "UA"]),
        "carrier", "categories no longer known (encoded as unknown): B6"),
    "threshold changed": (lambda m: m["output"].update(threshold=0.4),
                          None, "decision threshold 0.3 -> 0.4"),
}


@pytest.mark.parametrize("edit, column, what", COMPATIBLE_EDITS.values(), ids=COMPATIBLE_EDITS)
def test_a_change_production_input_still_satisfies_is_compatible_and_only_that(edit, column,
                                                                             what):
    changes = compat.compare(meta(), edited(edit))

    assert summary(changes) == [(COMPATIBLE, column, what)]
    assert compat.breaking(changes) == []


def test_changes_list_breaking_ones_first_and_each_one_once():
    def many(m):
        cols(m).pop("temp")
        cols(m)["distance"].update(max=20000)
        cols(m)["origin"].update(values=["EWR"])
        m["output"].update(threshold=0.5)

    changes = summary(compat.compare(meta(), edited(many)))

    assert [kind for kind, _, _ in changes] == [BREAKING, BREAKING, COMPATIBLE, COMPATIBLE]
    assert set(changes) == {(BREAKING, "temp", "column removed"),
                            (BREAKING, "origin", "accepted values narrowed"),
                            (COMPATIBLE, "distance", "accepted max widened 10000 -> 20000"),
                            (COMPATIBLE, None, "decision threshold 0.3 -> 0.5")}


def test_the_same_accepted_values_in_another_order_are_no_change():
    new = edited(lambda m: cols(m)["origin"].update(values=["LGA", "JFK", "EWR"]))
    assert compat.compare(meta(), new) == []


# ---------------------------------------------------------------- the gate on compat changes


def same(production: float = 0.7) -> dict[str, Any]:
    """One metric's paired comparison (as the evaluate stage writes it): no difference."""
    return {"candidate": production, "production": production, "delta": 0.0,
            "delta_low": -0.001, "delta_high": 0.001}


def evaluation() -> dict[str, Any]:
    return {"models": {"candidate": "new", "production": "old"},
            "metrics": {m: same() for m in ("roc_auc", "f1", "log_loss")}}


SLICES = {"column": "origin", "min_rows": 200, "values": {"EWR": None}}


def test_gate_rejects_a_candidate_with_a_breaking_change_and_names_it():
    changes = compat.compare(meta(), edited(lambda m: cols(m).pop("temp")))

    verdict = gate.decide(evaluation(), SLICES, shipped_params().gate, changes)

    assert verdict.verdict == gate.REJECT
    assert verdict.promotable is False
    assert len(verdict.reasons) == 1
    assert verdict.reasons[0].startswith("breaking change: temp: column removed")
    assert "--force --reason" in verdict.reasons[0]


def test_gate_promotes_a_candidate_with_only_compatible_changes():
    def compatible(m):
        cols(m)["distance"].update(nullable=True, max=20000)
        cols(m)["carrier"].update(categories=["AA", "B6", "UA", "WN"])
        m["output"].update(threshold=0.35)

    changes = compat.compare(meta(), edited(compatible))
    assert len(changes) == 4

    verdict = gate.decide(evaluation(), SLICES, shipped_params().gate, changes)

    assert verdict.verdict == gate.PROMOTE
    assert verdict.promotable is True


# ---------------------------------------------------------------- version numbers

PARAMS = {"kind": "sgd_logistic", "threshold": 0.3, "seed": 42,
          "sgd_logistic": {"alpha": 0.0001, "max_iter": 20}}
OTHER_PARAMS = {**PARAMS, "sgd_logistic": {"alpha": 0.001, "max_iter": 20}}


def promoted(version: str, model_params: dict[str, Any] = PARAMS) -> dict[str, Any]:
    return {"version": version, "action": registry.PROMOTE, "model_params": model_params}


def rolled_back_to(entry: dict[str, Any]) -> dict[str, Any]:
    return {**entry, "action": registry.ROLLBACK}


def candidate(model_params: dict[str, Any] = PARAMS) -> dict[str, Any]:
    return {"model_params": model_params}


def test_the_first_version_is_1_0_0():
    assert registry.next_version([], candidate(), breaking=False) == "1.0.0"
    assert registry.next_version([], candidate(), breaking=True) == "1.0.0"


def test_a_retrain_with_the_same_params_bumps_the_patch():
    assert registry.next_version([promoted("1.0.0")], candidate(), breaking=False) == "1.0.1"


def test_a_change_of_model_params_bumps_the_minor():
    entries = [promoted("1.0.0"), promoted("1.0.1")]
    assert registry.next_version(entries, candidate(OTHER_PARAMS), breaking=False) == "1.1.0"


def test_a_breaking_change_bumps_the_major_even_with_changed_params():
    entries = [promoted("1.0.0"), promoted("1.2.3")]
    assert registry.next_version(entries, candidate(), breaking=True) == "2.0.0"
    assert registry.next_version(entries, candidate(OTHER_PARAMS), breaking=True) == "2.0.0"


def test_after_a_rollback_numbering_continues_from_the_highest_version_released():
    first, second = promoted("1.0.0"), promoted("1.0.1")
    entries = [first, second, rolled_back_to(first)]

    assert registry.next_version(entries, candidate(), breaking=False) == "1.0.2"


def test_after_a_rollback_params_are_compared_with_the_version_rolled_back_to():
    first, tuned = promoted("1.0.0"), promoted("1.1.0", OTHER_PARAMS)
    entries = [first, tuned, rolled_back_to(first)]

    # same params as production (1.0.0): a patch, numbered after the highest (1.1.0)
    assert registry.next_version(entries, candidate(), breaking=False) == "1.1.1"
    # the params of 1.1.0 differ from production's: a minor, never 1.1.0 again
    assert registry.next_version(entries, candidate(OTHER_PARAMS), breaking=False) == "1.2.0"
    assert registry.next_version(entries, candidate(), breaking=True) == "2.0.0"


def test_versions_are_ordered_by_number_not_as_text():
    entries = [promoted("1.0.9"), promoted("1.0.10"), rolled_back_to(promoted("1.0.9"))]
    assert registry.next_version(entries, candidate(), breaking=False) == "1.0.11"


def test_a_rolled_back_version_number_is_never_released_again():
    entries: list[dict[str, Any]] = []
    for step in ("retrain", "retrain", "rollback", "retrain", "tune", "rollback", "retrain"):
        if step == "rollback":
            entries.append(rolled_back_to(entries[0]))
            continue
        params = OTHER_PARAMS if step == "tune" else PARAMS
        version = registry.next_version(entries, candidate(params), breaking=False)
        assert version not in {e["version"] for e in entries}
        entries.append(promoted(version, params))

    assert [e["version"] for e in entries] == [
        "1.0.0", "1.0.1", "1.0.0", "1.0.2", "1.1.0", "1.0.0", "1.1.1"]
