"""What people read, rendered from registry entries (iterate.core.changelog): the changelog, the
model card and the `iterate history` table. Entries are built with iterate.repo.registry from
hand-made evaluation, gate and slice results in the shapes the stages write."""

from __future__ import annotations

import re
from typing import Any

import pytest

from iterate.core import changelog
from iterate.repo import registry

NAME = "flight-delay"
PARAMS = {"kind": "sgd_logistic", "threshold": 0.3, "seed": 42,
          "sgd_logistic": {"alpha": 0.0001, "max_iter": 20}}
META = {"sha256": "", "kind": "sgd_logistic", "mode": "full", "model_params": PARAMS,
        "seen": {"first": "2013-01-01_2013-01-07", "last": "2013-01-08_2013-01-14", "count": 2}}
SCHEMA = {
    "distance": {"dtype": "float", "nullable": False, "min": 0, "max": 10000,
                 "seen_min": 17.0, "seen_max": 4983.0},
    "temp": {"dtype": "float", "nullable": True, "min": -60, "max": 140,
             "seen_min": 10.9, "seen_max": 57.9},
    "origin": {"dtype": "category", "nullable": False, "min": None, "max": None,
               "values": ["EWR", "JFK", "LGA"], "categories": ["EWR", "JFK", "LGA"]},
    "carrier": {"dtype": "category", "nullable": False, "min": None, "max": None,
                "values": None, "categories": ["AA", "B6", "UA"]},
}
OUTPUT = {"classes": [0, 1], "threshold": 0.3, "probability_of": 1}
METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc", "log_loss", "brier")


def stats(candidate: float, production: float | None = None,
          ci: tuple[float, float] | None = None) -> dict[str, Any]:
    delta = None if production is None else round(candidate - production, 6)
    low, high = ci if ci else (None, None)
    return {"candidate": candidate, "candidate_low": candidate - 0.01,
            "candidate_high": candidate + 0.01, "production": production,
            "production_low": None, "production_high": None,
            "delta": delta, "delta_low": low, "delta_high": high}


def evaluation(sha: str, production: str | None, batch: str, baseline: bool) -> dict[str, Any]:
    metrics = {m: stats(0.5) for m in METRICS}
    if baseline:
        metrics = {m: stats(0.5, 0.48, (0.005, 0.035)) for m in METRICS}
        metrics["roc_auc"] = stats(0.6512, 0.6301, (0.0123, 0.0299))
    else:
        metrics["roc_auc"] = stats(0.6301)
    return {"holdout": {"batch": batch, "rows": 5906, "positive_rate": 0.24},
            "models": {"candidate": sha, "production": production}, "metrics": metrics}


def slices(**roc_auc: float | None) -> dict[str, Any]:
    values = {v: None if auc is None else {"roc_auc": stats(auc, auc - 0.01),
                                           "f1": stats(0.4, 0.41)}
              for v, auc in roc_auc.items()}
    return {"column": "origin", "min_rows": 200, "values": values}


DATA = {"batches": ["2013-01-01_2013-01-07", "2013-01-08_2013-01-14"],
        "start": "2013-01-01T10:00:00Z", "end": "2013-01-14T23:00:00Z", "rows": 11945}


def promote(version: str, sha: str, replaced: str | None, time: str, reason: str,
            forced: bool = False, compatibility: list[dict[str, Any]] | None = None
            ) -> dict[str, Any]:
    baseline = replaced is not None
    gate = {"verdict": "promote" if baseline else "no_baseline", "reasons": [reason],
            "compatibility": compatibility or []}
    return registry.promotion(
        version, {**META, "sha256": sha},
        evaluation(sha, "p" * 64 if baseline else None, "2013-01-15_2013-01-21", baseline),
        gate, slices(EWR=0.612, JFK=0.583, LGA=0.655, SWF=None),
        replaced=replaced, data=DATA, dvc_out={"md5": "ab" * 16 + ".dir"}, reason=reason,
        forced=forced, commit="c" * 40, time=time)


@pytest.fixture
def entries() -> list[dict[str, Any]]:
    first = promote("1.0.0", "a" * 64, None, "2013-02-01T10:00:00Z", "no baseline yet")
    second = promote("1.0.1", "b" * 64, "1.0.0", "2013-02-08T10:00:00Z", "all 6 rules pass",
                     compatibility=[{"kind": "compatible", "column": "carrier",
                                     "what": "new categories: WN"}])
    back = registry.rollback(first, "1.0.1", reason="v1.0.1 flags every evening flight",
                             commit="d" * 40, time="2013-02-09T08:30:00Z")
    third = promote("2.0.0", "e" * 64, "1.0.0", "2013-02-15T10:00:00Z", "schema change, reviewed",
                    forced=True, compatibility=[{"kind": "breaking", "column": "temp",
                                                 "what": "column removed"}])
    return [first, second, back, third]


def headings(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("## ")]


# ---------------------------------------------------------------- changelog


def test_changelog_lists_every_entry_newest_first(entries):
    text = changelog.changelog(NAME, entries)

    assert text.startswith(f"# Changelog: {NAME}\n")
    assert headings(text) == [
        "## v2.0.0: promoted (forced) (2013-02-15 10:00:00 UTC)",
        "## v1.0.0: rolled back to (2013-02-09 08:30:00 UTC)",
        "## v1.0.1: promoted (2013-02-08 10:00:00 UTC)",
        "## v1.0.0: promoted (2013-02-01 10:00:00 UTC)",
    ]


def section(text: str, heading_start: str) -> str:
    """The lines of the changelog entry whose heading starts with ``heading_start``."""
    parts = re.split(r"(?m)^(?=## )", text)
    return next(p for p in parts if p.startswith(heading_start))


def test_the_rollback_entry_says_why_and_what_it_replaced(entries):
    text = section(changelog.changelog(NAME, entries), "## v1.0.0: rolled back")

    assert "- **Why:** v1.0.1 flags every evening flight" in text
    assert "- **Replaced:** v1.0.1" in text
    assert f"SHA-256 `{'a' * 12}`" in text
    assert "| metric |" not in text, "a rollback has no new evaluation"


def test_a_promotion_entry_says_why_what_it_replaced_the_data_and_the_gate(entries):
    text = section(changelog.changelog(NAME, entries), "## v1.0.1")

    assert "- **Why:** all 6 rules pass" in text
    assert "- **Replaced:** v1.0.0" in text
    assert "- **Model:** sgd_logistic, trained full, SHA-256 `bbbbbbbbbbbb`" in text
    assert ("- **Data:** 2 batches, 2013-01-01T10:00:00Z .. 2013-01-14T23:00:00Z, 11945 rows"
            in text)
    assert "holdout batch 2013-01-15_2013-01-21 (5906 rows)" in text
    assert "- **Compatible changes:** carrier: new categories: WN" in text
    assert "- **Gate:** promote" in text


def test_an_incremental_entry_records_its_own_batches_and_the_range_of_all_seen():
    seen = {"first": "2013-01-01_2013-01-01", "last": "2013-09-27_2013-09-27", "count": 270}
    own = {"batches": ["2013-09-27_2013-09-27"], "start": "2013-09-27T10:00:00Z",
           "end": "2013-09-27T23:00:00Z", "rows": 900}
    entry = registry.promotion(
        "1.0.9", {**META, "sha256": "d" * 64, "mode": "incremental", "seen": seen},
        evaluation("d" * 64, "p" * 64, "2013-09-28_2013-09-28", True),
        {"verdict": "promote", "reasons": ["better"]}, slices(), replaced="1.0.8", data=own,
        dvc_out={}, reason="better", forced=False, commit=None, time="2013-09-29T00:00:00Z")
    assert entry["training_data"] == {**own, "seen": seen}, "no list of every batch seen"
    assert ("- **Data:** 1 batches, 2013-09-27T10:00:00Z .. 2013-09-27T23:00:00Z, 900 rows; "
            "has seen 270 batches, 2013-01-01_2013-01-01 .. 2013-09-27_2013-09-27"
            ) in changelog.changelog(NAME, [entry])


def test_the_first_version_replaced_nothing(entries):
    text = section(changelog.changelog(NAME, entries), "## v1.0.0: promoted")
    assert "- **Replaced:** nothing (first version)" in text
    assert "- **Gate:** no_baseline" in text


def test_a_forced_promotion_lists_its_breaking_changes(entries):
    text = section(changelog.changelog(NAME, entries), "## v2.0.0")
    assert "- **Why:** schema change, reviewed" in text
    assert "- **Breaking changes:** temp: column removed" in text


def test_the_metrics_table_has_each_metric_with_delta_and_its_ci(entries):
    text = section(changelog.changelog(NAME, entries), "## v1.0.1")
    table = [line for line in text.splitlines() if line.startswith("|")]

    assert table[0] == "| metric | this version | replaced | Δ | 95% CI of Δ |"
    assert [row.split(" | ")[0].removeprefix("| ") for row in table[2:]] == list(
        changelog.SHOWN)
    assert "| roc_auc | 0.6512 | 0.6301 | +0.0211 | [+0.0123, +0.0299] |" in table
    assert "| f1 | 0.5000 | 0.4800 | +0.0200 | [+0.0050, +0.0350] |" in table


def test_without_a_baseline_the_table_shows_no_delta(entries):
    text = section(changelog.changelog(NAME, entries), "## v1.0.0: promoted")
    assert "| roc_auc | 0.6301 | — | — |  |" in text


def test_an_empty_registry_renders_the_heading_only():
    text = changelog.changelog(NAME, [])
    assert headings(text) == []
    assert text.endswith("do not edit by hand.\n")


# ---------------------------------------------------------------- model card


def test_the_card_names_the_version_and_its_model(entries):
    entry = entries[1]
    text = changelog.card(NAME, entry, SCHEMA, OUTPUT)

    assert text.startswith(f"# Model card: {NAME} v1.0.1\n")
    assert f"SHA-256 `{'b' * 64}`" in text
    assert "label = probability ≥ 0.3" in text
    assert "| roc_auc | 0.6512 | 0.6301 | +0.0211 | [+0.0123, +0.0299] |" in text


def test_the_card_says_the_rule_that_chose_the_threshold(entries):
    entry = {**entries[1], "model_params": {**entries[1]["model_params"], "threshold": "max_f1"}}
    text = changelog.card(NAME, entry, SCHEMA, {**OUTPUT, "threshold": 0.28713})

    assert "label = probability ≥ 0.2871 (chosen by max_f1 on the training window)" in text


def test_the_card_names_the_weakest_slice_and_the_ones_too_small_to_judge(entries):
    text = changelog.card(NAME, entries[1], SCHEMA, OUTPUT)

    assert "- Weakest origin: JFK (ROC AUC 0.583)." in text
    assert "- Too few holdout rows to judge origin SWF." in text


def test_the_card_without_slices_names_no_weakest_slice(entries):
    entry = {**entries[1], "slices": None}
    text = changelog.card(NAME, entry, SCHEMA, OUTPUT)
    assert "Weakest" not in text
    assert "## Known limits" in text


def test_the_card_lists_the_input_contract(entries):
    text = changelog.card(NAME, entries[0], SCHEMA, OUTPUT)

    assert "| distance | float | no | 0 .. 10000 | 17 .. 4983 seen |" in text
    assert "| temp | float | yes | -60 .. 140 | 10.9 .. 57.9 seen |" in text
    assert "| origin | category | no | EWR, JFK, LGA | 3 categories |" in text
    assert "| carrier | category | no | any | 3 categories |" in text


# ---------------------------------------------------------------- history table


def test_history_table_has_a_header_a_rule_and_one_row_per_entry(entries):
    lines = changelog.history_table(entries).splitlines()

    assert lines[0].split() == ["version", "action", "time", "model", "data", "ROC", "AUC", "Δ",
                                "reason"]
    assert set(lines[1]) == {"-", " "}
    rows = lines[2:]
    assert len(rows) == len(entries)
    assert [row.split()[:2] for row in rows] == [["1.0.0", "promote"], ["1.0.1", "promote"],
                                                 ["1.0.0", "rollback"], ["2.0.0", "promote"]]
    assert re.search(r" 0\.6512 +\+0\.0211 +all 6 rules pass$", rows[1])
    assert re.search(r" — +— +v1\.0\.1 flags every evening flight$", rows[2])
    assert "2 batches, 11945 rows" in rows[2]


def test_history_table_shortens_a_long_reason(entries):
    entries[2]["reason"] = "x" * 100
    row = changelog.history_table(entries).splitlines()[4]
    assert row.endswith("x" * 59 + "…")


def test_history_table_keeps_one_row_per_entry_for_a_reason_with_a_line_break(entries):
    entries[2]["reason"] = "bad evening scores\nsee incident 42"
    assert len(changelog.history_table(entries).splitlines()) == 2 + len(entries)


# ---------------------------------------------------------------- the registry file


def test_the_registry_file_is_json_a_line_per_entry_that_yaml_readers_read_too(entries):
    import yaml

    text = registry.dump(entries, NAME)
    assert registry.parse(text) == entries
    assert yaml.safe_load(text) == {"model": NAME, "versions": entries}
    body = [line for line in text.splitlines() if not line.startswith("#")]
    assert len(body) == 2 + len(entries), "one line per entry between the brackets"
    assert registry.parse(registry.dump([], NAME)) == []


def test_a_registry_written_as_block_yaml_by_earlier_versions_still_reads(entries):
    import yaml

    old = "# header\n" + yaml.safe_dump({"model": NAME, "versions": entries}, sort_keys=False)
    assert registry.parse(old) == entries


def test_the_card_describes_the_model_in_the_words_of_registry_description(entries):
    text = changelog.card(NAME, entries[1], SCHEMA, OUTPUT,
                          description="Whether it rains tomorrow at  a station")

    assert text.splitlines()[2] == "**Predicts:** Whether it rains tomorrow at a station"


def test_the_card_of_other_data_holds_no_word_of_the_embedded_dataset(entries):
    other = {**entries[1], "slices": None}  # (its dates are the fixture's, from the entry)
    text = changelog.card("rain", other, {"humidity": {"dtype": "float", "nullable": False}},
                          OUTPUT)

    assert not [w for w in ("flight", "new york", "departure", "carrier") if w in text.lower()]
    seen = other["training_data"]["seen"]  # all the batches the model has learnt from
    assert f"- Trained on the batches {seen['first']} .. {seen['last']} only" in text


def test_the_changelog_says_what_the_model_predicts_in_the_words_of_registry_description(
        entries):
    text = changelog.changelog(NAME, entries, description="Whether it rains tomorrow")

    assert text.splitlines()[:3] == [f"# Changelog: {NAME}", "",
                                     "**Predicts:** Whether it rains tomorrow"]
