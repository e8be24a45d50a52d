"""Promote the candidate to production and record the version in the registry."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from iterate import atomic, batches, models, registry, store, vcs
from iterate.errors import IterateError
from iterate.jsonfile import read_json
from iterate.layout import CANDIDATE, EVALUATION, GATE, PRODUCTION, RAW, REGISTRY
from iterate.params import Params

STALE = "run `dvc repro` so the gate judges the current candidate"


def read_registry(path: Path = REGISTRY) -> list[dict[str, Any]]:
    return registry.parse(path.read_text(encoding="utf-8") if path.is_file() else None)


def promote(p: Params, *, force: bool, reason: str | None) -> dict[str, Any]:
    """Make ``models/candidate`` the production model, if the gate (or ``force``) allows.

    Returns the registry entry written. Refuses, changing nothing, when the gate's verdict is
    stale, rejects (without ``force`` and a ``reason``), or the candidate is production already.
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
    version = registry.next_version(entries, meta)
    seen = set(meta["seen_batches"])
    data = batches.summary([b for b in store.list_batches(RAW) if b.id in seen])
    entry = registry.entry(
        version, meta, evaluation, verdict, data=data,
        reason=reason.strip() if force else "; ".join(verdict["reasons"]), forced=force,
        commit=vcs.git_head(), time=batches.iso(datetime.now(UTC)))
    atomic.replace_dir(CANDIDATE, PRODUCTION)
    atomic.write_text(REGISTRY, registry.dump([*entries, entry], p.registry.name))
    vcs.dvc("add", "--quiet", str(PRODUCTION))
    return entry
