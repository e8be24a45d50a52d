"""The model registry: every promotion and rollback, as plain data.

``models/registry.yaml`` holds a list of entries, oldest first. The newest entry names the
version in production. This module builds entries and numbers versions; callers read and
write the file, and :mod:`iterate.core.changelog` renders it for people.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import yaml

from iterate import yamlfile
from iterate.errors import IterateError

PROMOTE, ROLLBACK = "promote", "rollback"
FIX = "fix it, or restore it with `git checkout -- models/registry.yaml`"
# What every entry holds, and the type each must have (the changelog, rollback and the version
# numbers read them); a promotion's metrics, holdout and slices are optional.
ENTRY_KEYS: dict[str, type | tuple[type, ...]] = {
    "version": str, "action": str, "time": str, "reason": str, "forced": bool,
    "model_sha256": str, "dvc": dict, "kind": str, "train_mode": str, "model_params": dict,
    "training_data": dict,
}
VERSION = re.compile(r"\d+\.\d+\.\d+")
SHA256 = re.compile(r"[0-9a-f]{64}")


class RegistryError(IterateError):
    """The registry (or a journal's copy of its entries) is not what promote and rollback
    write: one line naming the file, the entry and its line."""


COMMENTS = re.compile(r"(?:\s*#[^\n]*\n)*\s*")


def parse(data: bytes | str | None, source: str = "models/registry.yaml") -> list[dict[str, Any]]:
    """The entries of registry file ``source`` (its bytes or text), each checked: JSON (which is
    YAML) an entry a line as :func:`dump` writes it, or block YAML as earlier versions wrote it."""
    if not data:
        return []
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        yamlfile.parse(data, source)  # says where, in one line
        raise
    start = COMMENTS.match(text).end()
    json_file = text.startswith("{", start)
    doc = _json(text, start, source) if json_file else yamlfile.parse(text, source)
    if doc is None:
        return []
    versions = doc.get("versions") if isinstance(doc, dict) else None
    if not isinstance(versions, list):
        raise RegistryError(f"{source}: expected a mapping with a `versions:` list of entries, "
                            f"got {type(doc).__name__}; {FIX}")
    check_entries(versions, source, lines=lambda: _entry_lines(text, json_file))
    return versions


def check_entries(entries: Any, source: str, *, lines: Callable[[], list[int]] | None = None,
                  pending: bool = False, fix: str = FIX) -> None:
    """Refuse, in one line, entries that are not what promote and rollback write. ``lines``
    gives each entry's line in ``source``; ``pending``: the last one is a promotion whose DVC
    record is written later (a deploy journal's)."""
    if not isinstance(entries, list):
        raise RegistryError(f"{source}: expected a list of entries, got "
                            f"{type(entries).__name__}; {fix}")
    for i, entry in enumerate(entries):
        problem = _entry_problem(entry, pending=pending and i == len(entries) - 1)
        if problem:
            known = lines() if lines else []
            where = f"{source}:{known[i]}" if i < len(known) else source
            raise RegistryError(f"{where}: versions[{i}]: {problem}; {fix}")


def _entry_problem(entry: Any, *, pending: bool) -> str | None:
    if not isinstance(entry, dict):
        return f"expected a mapping, got {type(entry).__name__}"
    for key, kind in ENTRY_KEYS.items():
        if key not in entry:
            return f"key {key!r} is missing"
        if not isinstance(entry[key], kind) or (kind is str and not entry[key]):
            return f"{key} should be a {getattr(kind, '__name__', kind)}, got {entry[key]!r}"
    if entry["action"] not in (PROMOTE, ROLLBACK):
        return f"action should be {PROMOTE} or {ROLLBACK}, got {entry['action']!r}"
    if not VERSION.fullmatch(entry["version"]):
        return f"version should be like 1.2.3, got {entry['version']!r}"
    if not SHA256.fullmatch(entry["model_sha256"]):
        return "model_sha256 should be 64 hexadecimal digits"
    if not pending and not isinstance(entry["dvc"].get("md5"), str):
        return "dvc should hold the model folder's DVC record (md5, size, nfiles, path)"
    return None


def _json(text: str, start: int, source: str) -> Any:
    def refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in pairs]
        twice = sorted({k for k in keys if keys.count(k) > 1})
        if twice:
            raise RegistryError(f"{source}: key {twice[0]!r} is given twice in one entry; {FIX}")
        return dict(pairs)

    try:
        return json.loads(text[start:], object_pairs_hook=refuse_duplicates)
    except json.JSONDecodeError as exc:
        line = text.count("\n", 0, start) + exc.lineno
        raise RegistryError(f"{source}:{line}:{exc.colno}: not valid JSON: {exc.msg}; "
                            f"{FIX}") from None


def _entry_lines(text: str, json_file: bool) -> list[int]:
    """The line of each entry (error messages only; the text parsed already)."""
    if json_file:  # dump's layout: an entry a line after the one that opens `"versions": [`
        lines = text.splitlines()
        opening = next((i for i, line in enumerate(lines) if line.rstrip().endswith("[")), None)
        return [] if opening is None else list(range(opening + 2, len(lines) + 1))
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    for key, value in node.value if isinstance(node, yaml.MappingNode) else []:
        if key.value == "versions" and isinstance(value, yaml.SequenceNode):
            return [item.start_mark.line + 1 for item in value.value]
    return []


def dump(entries: list[dict[str, Any]], name: str) -> str:
    """The registry file: JSON (which every YAML reader reads too), one entry a line, so a
    promotion adds one line to the diff, and a registry of a thousand promotions (~3 MB)
    parses and writes in a fraction of a second, where YAML takes seconds."""
    header = ("# Written by `iterate promote` and `iterate rollback`; one entry per change of the\n"
              "# production model (a line each), oldest first. models/CHANGELOG.md is rendered\n"
              "# from it.\n")
    lines = ",\n".join(json.dumps(e, ensure_ascii=False) for e in entries)
    return f'{header}{{"model": {json.dumps(name)}, "versions": [\n{lines}\n]}}\n'



def current(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The entry of the version in production now (promoted or rolled back to)."""
    return entries[-1] if entries else None


def find(entries: list[dict[str, Any]], version: str) -> dict[str, Any]:
    """The promotion entry of ``version`` (a leading ``v`` is accepted)."""
    wanted = version.removeprefix("v")
    for entry in reversed(entries):
        if entry["action"] == PROMOTE and entry["version"] == wanted:
            return entry
    known = ", ".join(e["version"] for e in entries if e["action"] == PROMOTE) or "none yet"
    raise IterateError(f"rollback: no version {version} in the registry (known: {known}); see "
                       "`iterate history`")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in version.split("."))


def next_version(entries: list[dict[str, Any]], candidate_meta: dict[str, Any],
                 breaking: bool, used: frozenset[str] = frozenset()) -> str:
    """Semantic version of the candidate.

    The first version is 1.0.0. A breaking change of the compatibility contract bumps the
    major; a change of model params (estimator, its params, threshold or seed; against the
    version in production) the minor; a retrain on new data the patch. Numbers continue from
    the highest version ever released, here or in ``used`` (the numbers of every other
    branch), so a rollback or an older checkout never leads to a version number being reused.
    """
    released = [e["version"] for e in entries if e["action"] == PROMOTE] + sorted(used)
    if not released:
        return "1.0.0"
    major, minor, patch = max(released, key=_key).split(".")
    production = current(entries)
    if breaking:
        return f"{int(major) + 1}.0.0"
    if production is None or production["model_params"] != candidate_meta["model_params"]:
        return f"{major}.{int(minor) + 1}.0"
    return f"{major}.{minor}.{int(patch) + 1}"


def promotion(version: str, candidate_meta: dict[str, Any], evaluation: dict[str, Any],
              gate: dict[str, Any], slices: dict[str, Any], *, replaced: str | None,
              data: dict[str, Any], dvc_out: dict[str, Any], reason: str, forced: bool,
              commit: str | None, time: str) -> dict[str, Any]:
    """The entry of a promotion: what was deployed, why, on what data, with which results.

    ``data`` summarises the batches this fit trained on (:func:`iterate.core.batches.summary`);
    the entry adds the first, last and count of all the model has seen, never their list, so
    an entry's size does not grow with the history."""
    return {
        "version": version,
        "action": PROMOTE,
        "time": time,
        "reason": reason,
        "forced": forced,
        "replaced": replaced,
        "model_sha256": candidate_meta["sha256"],
        "dvc": dvc_out,
        "kind": candidate_meta["kind"],
        "train_mode": candidate_meta["mode"],
        "model_params": candidate_meta["model_params"],
        "threshold": candidate_meta.get("threshold"),  # the number (model_params may hold a rule)
        "training_data": {**data, "seen": candidate_meta["seen"]},
        "holdout": evaluation.get("holdout"),
        "metrics": evaluation.get("metrics"),
        "slices": _slice_summary(slices),
        "gate": {"verdict": gate["verdict"], "reasons": gate["reasons"]},
        "compatibility": gate.get("compatibility", []),
        "explain": gate.get("explain"),  # what it relies on, what moved, gaps (core/explain)
        "git_commit": commit,
    }


def rollback(target: dict[str, Any], replaced: str | None, *, reason: str, commit: str | None,
             time: str) -> dict[str, Any]:
    """The entry of a rollback to ``target`` (an earlier promotion entry)."""
    return {
        "version": target["version"],
        "action": ROLLBACK,
        "time": time,
        "reason": reason,
        "forced": True,
        "replaced": replaced,
        "model_sha256": target["model_sha256"],
        "dvc": target["dvc"],
        "kind": target["kind"],
        "train_mode": target["train_mode"],
        "model_params": target["model_params"],
        "training_data": target["training_data"],
        "git_commit": commit,
    }


def _slice_summary(slices: dict[str, Any]) -> dict[str, Any] | None:
    """Per slice value: rows-permitting ROC AUC and F1 of the candidate, with their Δ."""
    if not slices or not slices.get("values"):
        return None
    summary = {}
    for value, metrics in slices["values"].items():
        summary[value] = None if metrics is None else {
            m: {"candidate": metrics[m]["candidate"], "delta": metrics[m]["delta"]}
            for m in ("roc_auc", "f1")}
    return {"column": slices["column"], "values": summary}
