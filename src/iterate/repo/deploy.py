"""Deploy: promote the candidate, roll back to an earlier version, and record both.

``models/production`` is only ever replaced whole (built beside it, then renamed in), its
bytes are tracked by DVC (``models/production.dvc``), and every change is appended to the
registry, from which the changelog and the model card are rendered.
"""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from iterate.core import batches, changelog
from iterate.errors import IterateError
from iterate.params import Params
from iterate.repo import atomic, bundles, dvc_cache, registry, store, vcs
from iterate.repo.jsonfile import read_json
from iterate.repo.layout import (
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

STALE = "run `dvc repro` so the gate judges the current candidate"
JOURNAL = PRODUCTION.with_name(".deploy-journal.json")
CARD = "CARD.md"


def read_registry() -> list[dict[str, Any]]:
    return registry.parse(REGISTRY.read_text(encoding="utf-8") if REGISTRY.is_file() else None)


def promote(p: Params, *, force: bool, reason: str | None) -> dict[str, Any]:
    """Make ``models/candidate`` the production model, if the gate (or ``force``) allows.

    Returns the registry entry written. Refuses, changing nothing, when the gate's verdict is
    stale or rejects (without ``force`` and a ``reason``), or the candidate is production.
    The new folder is built beside production; the journal then decides the change, and
    :func:`finish` carries it out (again, by :func:`recover`, if the process dies).
    """
    if force and not (reason and reason.strip()):
        raise IterateError("promote: --force needs --reason TEXT (it is recorded in the registry)")
    if not bundles.exists(CANDIDATE):
        raise IterateError(f"promote: no candidate in {CANDIDATE}; {STALE}")
    verdict = read_json(GATE, STALE)
    evaluation = read_json(EVALUATION, STALE)
    meta = bundles.read_meta(CANDIDATE)
    if bundles.file_sha256(CANDIDATE / bundles.MODEL_FILE) != meta["sha256"]:
        raise IterateError(f"promote: {CANDIDATE / bundles.MODEL_FILE} does not match its "
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
    replaced = registry.current(entries)
    entry = registry.promotion(
        version, meta, evaluation, verdict, read_json(SLICES, STALE),
        replaced=replaced["version"] if replaced else None,
        data=batches.summary(store.read_infos(RAW, meta["trained_batches"])),
        dvc_out={}, reason=one_line(reason) if force else "; ".join(verdict["reasons"]),
        forced=force, commit=vcs.git_head(), time=batches.iso(datetime.now(UTC)))

    # Render everything first: a failure here changes nothing.
    card = changelog.card(p.registry.name, entry, meta["input_schema"], meta["output"])

    def fill(staging: Path) -> None:
        shutil.copytree(CANDIDATE, staging, dirs_exist_ok=True)
        (staging / CARD).write_text(card, encoding="utf-8")
        (staging / bundles.RELEASE_FILE).write_text(json.dumps(release(entry), indent=2) + "\n",
                                                   encoding="utf-8")

    atomic.build_dir(PRODUCTION, fill)
    commit(p, {"action": registry.PROMOTE, "entries": [*entries, entry]})
    return read_registry()[-1]


def rollback(p: Params, version: str, *, reason: str | None) -> dict[str, Any]:
    """Bring back the exact bytes of an earlier version and record the rollback.

    The bytes come from the DVC cache, or are fetched from the remote when the cache lacks
    them, and their SHA-256 must match the registry before anything in production changes.
    """
    if not (reason and reason.strip()):
        raise IterateError("rollback: --reason TEXT is required (it is recorded in the registry)")
    entries = read_registry()
    target = registry.find(entries, version)
    current = registry.current(entries)
    if current and current["model_sha256"] == target["model_sha256"]:
        raise IterateError(f"rollback: v{target['version']} is in production already")
    entry = registry.rollback(target, current["version"] if current else None,
                              reason=one_line(reason), commit=vcs.git_head(),
                              time=batches.iso(datetime.now(UTC)))
    try:
        atomic.build_dir(PRODUCTION, lambda staging: dvc_cache.restore(target, staging))
        staged = atomic.staging_dir(PRODUCTION) / bundles.MODEL_FILE
        if bundles.file_sha256(staged) != target["model_sha256"]:
            raise IterateError(f"rollback: the stored bytes of v{target['version']} do not "
                               "match the registry's SHA-256; the cache or remote is corrupt")
    except IterateError:
        atomic.discard_staging(PRODUCTION)
        raise
    commit(p, {"action": registry.ROLLBACK, "entries": [*entries, entry]})
    return entry


def commit(p: Params, journal: dict[str, Any]) -> None:
    """Write the journal (from here on the change is decided), then carry it out."""
    atomic.write_text(JOURNAL, json.dumps(journal))
    finish(p)


def finish(p: Params) -> None:
    """Carry out the journal's change; safe to repeat after a crash at any point."""
    journal = json.loads(JOURNAL.read_text(encoding="utf-8"))
    entries = journal["entries"]
    atomic.swap_in(PRODUCTION)
    if journal["action"] == registry.PROMOTE:
        vcs.dvc("add", "--quiet", str(PRODUCTION))
        entries[-1]["dvc"] = read_dvc_out()
    else:
        atomic.write_text(PRODUCTION_DVC, yaml.safe_dump({"outs": [entries[-1]["dvc"]]},
                                                         sort_keys=False))
    history = changelog.changelog(p.registry.name, entries)
    atomic.write_text(REGISTRY, registry.dump(entries, p.registry.name))
    atomic.write_text(CHANGELOG, history)
    JOURNAL.unlink()


def recover(p: Params) -> str | None:
    """Bring models/ back to a whole state after an interrupted promote or rollback: finish a
    change whose journal was written, drop one that never got that far. Returns what it did."""
    atomic.remove_stale_temporaries(PRODUCTION.parent)
    dvc_cache.PROBE.unlink(missing_ok=True)  # a killed rollback's fetch probe
    if JOURNAL.is_file():
        action = json.loads(JOURNAL.read_text(encoding="utf-8"))["action"]
        finish(p)
        return f"finished an interrupted {action}"
    if atomic.staging_dir(PRODUCTION).exists() or atomic.old_dir(PRODUCTION).exists():
        atomic.discard_staging(PRODUCTION)
        return "dropped an unfinished promotion or rollback that had changed nothing yet"
    return None


def one_line(text: str) -> str:
    """A reason as one line (tables and the changelog show it so)."""
    return " ".join(text.split())


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
