"""Deploy: promote the candidate, roll back to an earlier version, and record both.

``models/production`` is only ever replaced whole (built beside it, then renamed in), its
bytes are tracked by DVC (``models/production.dvc``), and every change is appended to the
registry, from which the changelog and the model card are rendered.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from iterate import atomic, batches, changelog, models, registry, store, vcs
from iterate.errors import IterateError
from iterate.jsonfile import read_json
from iterate.layout import (
    CANDIDATE,
    CHANGELOG,
    EVALUATION,
    GATE,
    PRODUCTION,
    PRODUCTION_DVC,
    RAW,
    REGISTRY,
    SLICES,
)
from iterate.params import Params

STALE = "run `dvc repro` so the gate judges the current candidate"
CARD = "CARD.md"


def read_registry() -> list[dict[str, Any]]:
    return registry.parse(REGISTRY.read_text(encoding="utf-8") if REGISTRY.is_file() else None)


def production_version(entries: list[dict[str, Any]] | None = None) -> str | None:
    """The version in production, checked against the bytes in ``models/production``."""
    entry = registry.current(read_registry() if entries is None else entries)
    if entry is None or not models.exists(PRODUCTION):
        return None
    return entry["version"] if models.read_meta(PRODUCTION)["sha256"] == entry[
        "model_sha256"] else None


def promote(p: Params, *, force: bool, reason: str | None) -> dict[str, Any]:
    """Make ``models/candidate`` the production model, if the gate (or ``force``) allows.

    Returns the registry entry written. Refuses, changing nothing, when the gate's verdict is
    stale or rejects (without ``force`` and a ``reason``), or the candidate is production.
    """
    if force and not (reason and reason.strip()):
        raise IterateError("promote: --force needs --reason TEXT (it is recorded in the registry)")
    if not models.exists(CANDIDATE):
        raise IterateError(f"promote: no candidate in {CANDIDATE}; {STALE}")
    verdict = read_json(GATE, STALE)
    evaluation = read_json(EVALUATION, STALE)
    meta = models.read_meta(CANDIDATE)
    if models.file_sha256(CANDIDATE / models.MODEL_FILE) != meta["sha256"]:
        raise IterateError(f"promote: {CANDIDATE / models.MODEL_FILE} does not match its "
                           f"model.json; {STALE}")
    if evaluation["models"]["candidate"] != meta["sha256"] or verdict["models"] != evaluation[
            "models"]:
        raise IterateError(f"promote: the gate's verdict is about another candidate; {STALE}")
    if verdict["verdict"] == "is_production":
        raise IterateError("promote: the candidate is the production model already")
    if not verdict["promotable"] and not force:
        raise IterateError(f"promote: the gate says {verdict['verdict']} "
                           f"({'; '.join(verdict['reasons'])}); improve the candidate, or "
                           "override with --force --reason TEXT")
    entries = read_registry()
    breaking = any(c["kind"] == "breaking" for c in verdict.get("compatibility", []))
    version = registry.next_version(entries, meta, breaking)
    seen = set(meta["seen_batches"])
    replaced = registry.current(entries)
    entry = registry.promotion(
        version, meta, evaluation, verdict, read_json(SLICES, STALE),
        replaced=replaced["version"] if replaced else None,
        data=batches.summary([b for b in store.list_batches(RAW) if b.id in seen]),
        dvc_out={}, reason=reason.strip() if force else "; ".join(verdict["reasons"]),
        forced=force, commit=vcs.git_head(), time=batches.iso(datetime.now(UTC)))

    # Render everything first: a failure here changes nothing.
    card = changelog.card(p.registry.name, entry, meta["input_schema"], meta["output"])
    history = changelog.changelog(p.registry.name, [*entries, entry])
    with tempfile.TemporaryDirectory(dir=PRODUCTION.parent, prefix=".promote-") as tmp:
        staged = Path(tmp) / "production"
        shutil.copytree(CANDIDATE, staged)
        (staged / CARD).write_text(card, encoding="utf-8")
        (staged / models.RELEASE_FILE).write_text(json.dumps(release(entry), indent=2) + "\n",
                                                  encoding="utf-8")
        atomic.replace_dir(staged, PRODUCTION)
    vcs.dvc("add", "--quiet", str(PRODUCTION))
    entry["dvc"] = read_dvc_out()
    atomic.write_text(REGISTRY, registry.dump([*entries, entry], p.registry.name))
    atomic.write_text(CHANGELOG, history)
    return entry


def rollback(p: Params, version: str, *, reason: str | None) -> dict[str, Any]:
    """Bring back the exact bytes of an earlier version and record the rollback.

    The bytes come from the DVC cache, or the remote when the cache lacks them; their SHA-256
    must match the registry. On any failure ``models/production`` is left as it was.
    """
    if not (reason and reason.strip()):
        raise IterateError("rollback: --reason TEXT is required (it is recorded in the registry)")
    entries = read_registry()
    target = registry.find(entries, version)
    current = registry.current(entries)
    if current and current["model_sha256"] == target["model_sha256"] and \
            production_version(entries) == target["version"]:
        raise IterateError(f"rollback: v{target['version']} is in production already")

    backup_dvc = PRODUCTION_DVC.read_text(encoding="utf-8") if PRODUCTION_DVC.is_file() else None
    with tempfile.TemporaryDirectory(dir=PRODUCTION.parent, prefix=".rollback-") as tmp:
        backup = Path(tmp) / "production"
        if PRODUCTION.exists():
            shutil.copytree(PRODUCTION, backup)
        try:
            restore_version(target)
        except IterateError:
            if backup_dvc is not None:
                atomic.write_text(PRODUCTION_DVC, backup_dvc)
            if backup.exists():
                atomic.replace_dir(backup, PRODUCTION)
            raise
    entry = registry.rollback(target, current["version"] if current else None,
                              reason=reason.strip(), commit=vcs.git_head(),
                              time=batches.iso(datetime.now(UTC)))
    history = changelog.changelog(p.registry.name, [*entries, entry])
    atomic.write_text(REGISTRY, registry.dump([*entries, entry], p.registry.name))
    atomic.write_text(CHANGELOG, history)
    return entry


def restore_version(target: dict[str, Any]) -> None:
    """Point models/production.dvc at ``target``'s bytes, check them out, verify them."""
    atomic.write_text(PRODUCTION_DVC, yaml.safe_dump({"outs": [target["dvc"]]}, sort_keys=False))
    try:
        vcs.dvc("checkout", "--quiet", "--force", str(PRODUCTION_DVC), capture=True)
    except IterateError:
        try:
            vcs.dvc("pull", "--quiet", "--force", str(PRODUCTION_DVC), capture=True)
        except IterateError:
            raise IterateError(
                f"rollback: the bytes of v{target['version']} are neither in the DVC cache nor "
                "in the remote; `dvc pull` on a machine that has them, or pick another version"
            ) from None
    actual = models.file_sha256(PRODUCTION / models.MODEL_FILE) \
        if (PRODUCTION / models.MODEL_FILE).is_file() else None
    if actual != target["model_sha256"]:
        raise IterateError(f"rollback: the restored bytes of v{target['version']} do not match "
                           "the registry's SHA-256; the cache or remote is corrupt")


def release(entry: dict[str, Any]) -> dict[str, Any]:
    """What monitoring compares later batches with: the version and its holdout metrics."""
    metrics = entry.get("metrics") or {}
    return {"version": entry["version"], "promoted_at": entry["time"],
            "holdout": entry.get("holdout"),
            "metrics": {m: v.get("candidate") for m, v in metrics.items()}}


def read_dvc_out() -> dict[str, Any]:
    """The ``outs`` entry DVC wrote for models/production (its hash, size, file count)."""
    return yaml.safe_load(PRODUCTION_DVC.read_text(encoding="utf-8"))["outs"][0]


def tag(p: Params, entry: dict[str, Any]) -> list[str]:
    """GTO-compatible git tags for ``entry`` on HEAD: ``name@vX.Y.Z`` for a new version and
    ``name#prod#N`` for its assignment to production (a rollback re-assigns the old version's
    commit)."""
    name = p.registry.name
    made = []
    version_tag = f"{name}@v{entry['version']}"
    if entry["action"] == registry.PROMOTE:
        vcs.git_tag(version_tag, f"Registering artifact {name} version v{entry['version']}")
        made.append(version_tag)
    number = len(vcs.git_tags(f"{name}#prod#*")) + 1
    stage_tag = f"{name}#prod#{number}"
    target = f"{version_tag}^{{commit}}" if vcs.git_tags(version_tag) else "HEAD"
    vcs.git_tag(stage_tag, f"Assigning stage prod to artifact {name} version "
                f"v{entry['version']}", ref=target)
    return [*made, stage_tag]
