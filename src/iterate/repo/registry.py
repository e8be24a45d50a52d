"""The model registry: every promotion and rollback, as plain data.

``models/registry.yaml`` holds a list of entries, oldest first. The newest entry names the
version in production. This module builds entries and numbers versions; callers read and
write the file, and :mod:`iterate.core.changelog` renders it for people.
"""

from __future__ import annotations

import json
import re
from typing import Any

import yaml

from iterate.errors import IterateError

PROMOTE, ROLLBACK = "promote", "rollback"


COMMENTS = re.compile(r"(?:\s*#[^\n]*\n)*\s*")


def parse(text: str | None) -> list[dict[str, Any]]:
    """The entries of ``models/registry.yaml``: JSON (which is YAML) as :func:`dump` writes it,
    or YAML in block style as earlier versions wrote it."""
    if not text:
        return []
    start = COMMENTS.match(text).end()
    data = json.loads(text[start:]) if text.startswith("{", start) else yaml.safe_load(text)
    return list((data or {}).get("versions", []))


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
                 breaking: bool) -> str:
    """Semantic version of the candidate.

    The first version is 1.0.0. A breaking change of the compatibility contract bumps the
    major; a change of model kind or params (against the version in production) the minor;
    a retrain on new data the patch. Numbers continue from the highest version ever released,
    so a rollback never leads to a version number being reused.
    """
    released = [e["version"] for e in entries if e["action"] == PROMOTE]
    if not released:
        return "1.0.0"
    major, minor, patch = max(released, key=_key).split(".")
    production = current(entries)
    if breaking:
        return f"{int(major) + 1}.0.0"
    if production["model_params"] != candidate_meta["model_params"]:
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
        "training_data": {**data, "seen": candidate_meta["seen"]},
        "holdout": evaluation.get("holdout"),
        "metrics": evaluation.get("metrics"),
        "slices": _slice_summary(slices),
        "gate": {"verdict": gate["verdict"], "reasons": gate["reasons"]},
        "compatibility": gate.get("compatibility", []),
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
