"""The model registry: every version ever promoted, as plain data.

``models/registry.yaml`` holds a list of entries, oldest first; this module builds entries and
numbers versions, the caller reads and writes the file.
"""

from __future__ import annotations

from typing import Any

import yaml


def parse(text: str | None) -> list[dict[str, Any]]:
    data = yaml.safe_load(text) if text else None
    return list((data or {}).get("versions", []))


def dump(entries: list[dict[str, Any]], name: str) -> str:
    header = ("# Written by `iterate promote`; one entry per version, oldest first.\n"
              "# Do not edit by hand: the changelog and model card are rendered from it.\n")
    return header + yaml.safe_dump({"model": name, "versions": entries}, sort_keys=False,
                                   allow_unicode=True)


def latest(entries: list[dict[str, Any]]) -> dict[str, Any] | None:
    return entries[-1] if entries else None


def next_version(entries: list[dict[str, Any]], candidate_meta: dict[str, Any]) -> str:
    """Semantic version of the candidate.

    The first version is 1.0.0; a retrain with the same model kind and params bumps the patch;
    a change of kind or params bumps the minor.
    """
    previous = latest(entries)
    if previous is None:
        return "1.0.0"
    major, minor, patch = (int(x) for x in previous["version"].split("."))
    if previous["model_params"] != candidate_meta["model_params"]:
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


def entry(version: str, candidate_meta: dict[str, Any], evaluation: dict[str, Any],
          gate: dict[str, Any], *, data: dict[str, Any], reason: str, forced: bool,
          commit: str | None, time: str) -> dict[str, Any]:
    """One registry entry: what was deployed, why, on what data, with which results."""
    return {
        "version": version,
        "action": "promote",
        "time": time,
        "reason": reason,
        "forced": forced,
        "model_sha256": candidate_meta["sha256"],
        "kind": candidate_meta["kind"],
        "train_mode": candidate_meta["mode"],
        "model_params": candidate_meta["model_params"],
        "training_data": data,
        "holdout": evaluation.get("holdout"),
        "metrics": evaluation.get("metrics"),
        "gate": {"verdict": gate["verdict"], "reasons": gate["reasons"]},
        "git_commit": commit,
    }
