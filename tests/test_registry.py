"""Tests of reading models/registry.yaml: a hand-edited or corrupt file is refused in one line
naming the file, the line and column (or the entry), and how to get it back."""

from __future__ import annotations

import pytest

from iterate.errors import IterateError
from iterate.repo import registry

SOURCE = "models/registry.yaml"
SHA = "ab" * 32
ENTRY = f"""  - version: 1.0.0
    action: promote
    time: '2026-01-01T00:00:00Z'
    reason: first
    forced: false
    model_sha256: {SHA}
    dvc: {{md5: 0a1b.dir, size: 10, nfiles: 3, path: production}}
    kind: sgd_logistic
    train_mode: full
    model_params: {{alpha: 0.0001}}
    training_data: {{batches: []}}
"""


def refusal(text: str | bytes) -> str:
    with pytest.raises(IterateError) as caught:
        registry.parse(text, SOURCE)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_whole_registry_reads_into_its_entries():
    entries = registry.parse(f"model: m\nversions:\n{ENTRY}", SOURCE)

    assert [e["version"] for e in entries] == ["1.0.0"]


def test_no_registry_yet_is_no_entries():
    assert registry.parse(None, SOURCE) == []


def test_garbage_yaml_names_the_file_line_and_column():
    message = refusal(f"model: m\nversions:\n{ENTRY}  - [unclosed\n")

    assert message.startswith(f"{SOURCE}:15:1: not valid YAML")


@pytest.mark.parametrize(("text", "got"), [
    ("just words\n", "str"), ("- 1\n- 2\n", "list"), ("model: m\nversions: 7\n", "dict")])
def test_a_scalar_or_a_list_instead_of_the_registry_is_refused(text, got):
    message = refusal(text)

    assert message.startswith(f"{SOURCE}: expected a mapping with a `versions:` list")
    assert f"got {got}" in message and "git checkout -- models/registry.yaml" in message


def test_a_list_of_non_mappings_is_refused_naming_the_entry_and_its_line():
    message = refusal("model: m\nversions:\n  - 1.0.0\n  - 1.0.1\n")

    assert message.startswith(f"{SOURCE}:3: versions[0]: expected a mapping, got str")


@pytest.mark.parametrize("key", ["time", "model_sha256", "dvc", "training_data", "version"])
def test_an_entry_missing_a_key_is_refused_naming_the_key_and_its_line(key):
    lines = [line for line in ENTRY.splitlines(keepends=True)
             if not line.lstrip(" -").startswith(f"{key}:")]
    text = "model: m\nversions:\n" + ENTRY + "".join(lines).replace("    ", "  - ", 1) \
        if key == "version" else f"model: m\nversions:\n{ENTRY}{''.join(lines)}"

    message = refusal(text)

    assert message.startswith(f"{SOURCE}:14: versions[1]: key {key!r} is missing")


@pytest.mark.parametrize(("old", "new", "problem"), [
    ("version: 1.0.0", "version: one", "version should be like 1.2.3"),
    (f"model_sha256: {SHA}", "model_sha256: abc", "model_sha256 should be 64 hexadecimal"),
    ("action: promote", "action: deploy", "action should be promote or rollback"),
    ("forced: false", "forced: 'no'", "forced should be a bool"),
    ("dvc: {md5: 0a1b.dir, size: 10, nfiles: 3, path: production}", "dvc: {}",
     "dvc should hold the model folder's DVC record"),
])
def test_an_entry_with_a_wrong_value_is_refused_saying_what_it_should_be(old, new, problem):
    message = refusal(f"model: m\nversions:\n{ENTRY.replace(old, new)}")

    assert message.startswith(f"{SOURCE}:3: versions[0]: {problem}")


def test_a_registry_that_is_not_utf8_names_the_line_and_column():
    message = refusal(f"model: m\nversions:\n{ENTRY}".replace("first", "caf\xe9").encode("latin-1"))

    assert message.startswith(f"{SOURCE}:6:16: not UTF-8")


def test_a_key_given_twice_in_the_registry_is_refused():
    message = refusal(f"model: m\nversions:\n{ENTRY}".replace("    kind:", "    forced: true\n"
                                                              "    kind:"))

    assert message.startswith(
        f"{SOURCE}:10:5: not valid YAML: key 'forced' is given twice (first on line 7)")
