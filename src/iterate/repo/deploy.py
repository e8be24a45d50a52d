"""Deploy: promote the candidate, roll back to an earlier version, record both, and pin the
baseline the stages compare with.

``models/production`` is only ever replaced whole (built beside it, then renamed in), its
bytes are tracked by DVC (``models/production.dvc``), and every change is appended to the
registry, from which the changelog and the model card are rendered. No stage reads it: when
data lands, production as it is then is copied into ``models/baseline`` (DVC-tracked too),
which the stages read, so a promotion never makes its iteration's commit stale. A verdict
names the baseline it judged against, and :func:`promote` releases a candidate only while
production is still that model.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from iterate.core import batches, changelog
from iterate.errors import IterateError
from iterate.params import Params
from iterate.repo import atomic, bundles, calibration, dvc_cache, registry, store, vcs
from iterate.repo.jsonfile import read_json
from iterate.repo.layout import (
    BASELINE,
    CANDIDATE,
    CHANGELOG,
    EVALUATION,
    GATE,
    NONE_FILE,
    PRODUCTION,
    PRODUCTION_DVC,
    RAW,
    REGISTRY,
    SLICES,
)

STALE = "run `dvc repro` so the gate judges the current candidate"
REPIN = ("pin it as the baseline with `iterate baseline`, then `dvc repro` so the gate judges "
         "the candidate against it")
SEMVER = re.compile(r"\d+\.\d+\.\d+")
JOURNAL = PRODUCTION.with_name(".deploy-journal.json")
CARD = "CARD.md"


def read_registry() -> list[dict[str, Any]]:
    return registry.parse(REGISTRY.read_bytes() if REGISTRY.is_file() else None, str(REGISTRY))


def promote(p: Params, *, force: bool, reason: str | None) -> dict[str, Any]:
    """Make ``models/candidate`` the production model, if the gate (or ``force``) allows.

    Returns the registry entry written. Refuses, changing nothing, when the gate's verdict is
    stale or rejects (without ``force`` and a ``reason``), when it is not bound to what would be
    released (:func:`check_bound`), or when HEAD is not the deployment branch's tip.
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
    if not isinstance(verdict.get("baseline"), dict):
        raise IterateError(f"promote: {GATE} does not name the production model it was judged "
                           f"against; {STALE}")
    if verdict["verdict"] == "is_production":
        raise IterateError("promote: the candidate is the production model already")
    if verdict["verdict"] == "skip":
        raise IterateError(f"promote: the gate judged nothing ({verdict['reasons'][0]}); land "
                           "the next batch and run `dvc repro`: that candidate is judged")
    entries = read_registry()
    released = check_bound(meta, verdict, entries, p.registry.name)
    if not verdict["promotable"] and not force:
        raise IterateError(f"promote: the gate says {verdict['verdict']} "
                           f"({'; '.join(verdict['reasons'])}); improve the candidate, or "
                           "override with --force --reason TEXT")
    branch = require_deployment_tip(p, entries, "promote")
    breaking = any(c["kind"] == "breaking" for c in verdict.get("compatibility", []))
    version = registry.next_version(entries, meta, breaking, used=released.versions)
    replaced = registry.current(entries)
    entry = registry.promotion(
        version, meta, evaluation, verdict, read_json(SLICES, STALE),
        replaced=replaced["version"] if replaced else None,
        data=batches.summary(store.read_infos(RAW, meta["trained_batches"])),
        dvc_out={}, reason=one_line(reason) if force else "; ".join(verdict["reasons"]),
        forced=force, commit=vcs.git_head(), time=batches.iso(datetime.now(UTC)))
    entry["branch"] = branch

    # Render everything first: a failure here changes nothing.
    card = changelog.card(p.registry.name, entry, meta["input_schema"], meta["output"],
                          p.registry.description)

    def fill(staging: Path) -> None:
        shutil.copytree(CANDIDATE, staging, dirs_exist_ok=True)
        calibration.write(staging, meta)  # what estimates before labels start from
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
    branch = require_deployment_tip(p, entries, "rollback")
    entry = registry.rollback(target, current["version"] if current else None,
                              reason=one_line(reason), commit=vcs.git_head(),
                              time=batches.iso(datetime.now(UTC)))
    entry["branch"] = branch
    stage_version(target, "rollback")
    commit(p, {"action": registry.ROLLBACK, "entries": [*entries, entry]})
    return entry


def stage_version(target: dict[str, Any], what: str) -> None:
    """Build the exact bytes of registry entry ``target`` beside production (from the DVC
    cache or remote), checked against its SHA-256; production is not touched."""
    try:
        atomic.build_dir(PRODUCTION, lambda staging: dvc_cache.restore(target, staging))
        staged = atomic.staging_dir(PRODUCTION) / bundles.MODEL_FILE
        if not staged.is_file() or bundles.file_sha256(staged) != target["model_sha256"]:
            raise IterateError(f"{what}: the stored bytes of v{target['version']} do not "
                               "match the registry's SHA-256; the cache or remote is corrupt")
    except IterateError:
        atomic.discard_staging(PRODUCTION)
        raise


def commit(p: Params, journal: dict[str, Any]) -> None:
    """Write the journal (from here on the change is decided), then carry it out."""
    atomic.write_text(JOURNAL, json.dumps(journal))
    finish(p)


class JournalError(IterateError):
    """A deploy journal that cannot be finished: told in one line with the way out."""


WAY_OUT = ("run `iterate recover --abandon` to drop it and put back the version "
           f"{REGISTRY} names, or fix the cause and run `iterate recover`")


def read_journal() -> dict[str, Any]:
    """The journal, checked before anything acts on it: a known action and whole entries."""
    try:
        journal = json.loads(JOURNAL.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JournalError(f"{JOURNAL}: not valid JSON ({exc}); {WAY_OUT}") from None
    action = journal.get("action") if isinstance(journal, dict) else None
    if action not in (registry.PROMOTE, registry.ROLLBACK):
        raise JournalError(f"{JOURNAL}: names no promote or rollback; {WAY_OUT}")
    try:
        registry.check_entries(journal.get("entries"), str(JOURNAL), fix=WAY_OUT,
                               pending=action == registry.PROMOTE)
    except registry.RegistryError as exc:
        raise JournalError(str(exc)) from None
    if not journal["entries"]:
        raise JournalError(f"{JOURNAL}: holds no entries; {WAY_OUT}")
    return journal


def finish(p: Params) -> None:
    """Carry out the journal's change; safe to repeat after a crash at any point. What cannot
    be finished raises :class:`JournalError` (one line, with the way out)."""
    journal = read_journal()
    action, entries = journal["action"], journal["entries"]
    try:
        atomic.swap_in(PRODUCTION)
        model = PRODUCTION / bundles.MODEL_FILE
        if not model.is_file() or bundles.file_sha256(model) != entries[-1]["model_sha256"]:
            raise IterateError(f"{PRODUCTION} does not hold the model the journal records")
        if action == registry.PROMOTE:
            vcs.dvc("add", "--quiet", str(PRODUCTION), capture=True)
            entries[-1]["dvc"] = read_dvc_out()
        else:
            atomic.write_text(PRODUCTION_DVC, yaml.safe_dump({"outs": [entries[-1]["dvc"]]},
                                                             sort_keys=False))
        history = changelog.changelog(p.registry.name, entries, p.registry.description)
    except IterateError as exc:
        raise JournalError(f"{JOURNAL}: the interrupted {action} cannot be finished "
                           f"({str(exc).rstrip('.')}); {WAY_OUT}") from None
    atomic.write_text(REGISTRY, registry.dump(entries, p.registry.name))
    atomic.write_text(CHANGELOG, history)
    JOURNAL.unlink()


def recover(p: Params) -> str | None:
    """Bring models/ back to a whole state after an interrupted promote or rollback: finish a
    change whose journal was written, drop one that never got that far. Returns what it did."""
    atomic.remove_stale_temporaries(PRODUCTION.parent)
    dvc_cache.PROBE.unlink(missing_ok=True)  # a killed rollback's fetch probe
    if JOURNAL.is_file():
        action = read_journal()["action"]
        finish(p)
        return f"finished an interrupted {action}"
    if atomic.staging_dir(BASELINE).exists() or atomic.old_dir(BASELINE).exists():
        atomic.discard_staging(BASELINE)  # a pin is redone by whoever needs it (a landing)
    if atomic.staging_dir(PRODUCTION).exists() or atomic.old_dir(PRODUCTION).exists():
        atomic.discard_staging(PRODUCTION)
        return "dropped an unfinished promotion or rollback that had changed nothing yet"
    return None


def abandon(p: Params) -> str:
    """Drop the journal of a change that cannot be finished, and bring production back to the
    version the registry names (its bytes from the DVC cache or remote). The registry must be
    readable: fix it first when it is not."""
    entries = read_registry()
    atomic.remove_stale_temporaries(PRODUCTION.parent)
    atomic.discard_staging(PRODUCTION)
    current = registry.current(entries)
    model = PRODUCTION / bundles.MODEL_FILE
    have = bundles.file_sha256(model) if model.is_file() else None
    if current is None:
        if have is not None:
            atomic.build_dir(PRODUCTION, lambda staging: None)
            atomic.swap_in(PRODUCTION)
        PRODUCTION_DVC.unlink(missing_ok=True)
    else:
        if have != current["model_sha256"]:
            stage_version(current, "recover --abandon")
            atomic.swap_in(PRODUCTION)
        atomic.write_text(PRODUCTION_DVC, yaml.safe_dump({"outs": [current["dvc"]]},
                                                         sort_keys=False))
        atomic.write_text(CHANGELOG, changelog.changelog(p.registry.name, entries,
                                                         p.registry.description))
    dropped = JOURNAL.is_file()
    JOURNAL.unlink(missing_ok=True)
    state = f"v{current['version']}" if current else "no model (the registry is empty)"
    return (f"{'dropped the journal; ' if dropped else ''}production is {state}, as "
            f"{REGISTRY} says")


def pending_journal() -> str | None:
    """A warning line when a promote or rollback waits to be finished (for read-only
    commands, which go on)."""
    if not JOURNAL.is_file():
        return None
    return (f"warning: {JOURNAL}: an interrupted promote or rollback waits; `iterate recover` "
            "finishes it (or `iterate recover --abandon` drops it)")


def verify_production() -> tuple[list[Path], str]:
    """Production's files, after checking its model against the registry's SHA-256 (none
    before the first promotion), and a description of it. Landings call it before writing."""
    current = registry.current(read_registry())
    model = PRODUCTION / bundles.MODEL_FILE
    if current is None:
        if model.is_file():
            raise IterateError(f"{model}: a model the registry ({REGISTRY}) does not know; "
                               f"restore the registry (`git checkout -- {REGISTRY}`) or remove "
                               f"{PRODUCTION}")
        return [], "no production model yet (an empty baseline)"
    actual = bundles.file_sha256(model) if model.is_file() else "missing"
    if actual != current["model_sha256"]:
        raise IterateError(f"{model}: SHA-256 {actual[:12]} does not match the registry's "
                           f"v{current['version']} ({current['model_sha256'][:12]}); restore "
                           f"it with `dvc checkout {PRODUCTION_DVC}`")
    files = sorted(f for f in PRODUCTION.rglob("*") if f.is_file())
    return files, f"production v{current['version']} ({current['model_sha256'][:12]})"


NO_PRODUCTION_TEXT = "No production model yet: the first candidate is judged against none.\n"


def pin_baseline() -> str:
    """Copy production, as it is now, into ``models/baseline`` (what the stages compare the
    candidate with), after :func:`verify_production`; while there is no production model, a
    ``NONE.txt`` saying so. The caller records it with ``dvc add``. Returns what was pinned."""
    files, pinned = verify_production()
    wanted = {f.relative_to(PRODUCTION): f.read_bytes() for f in files} or \
        {Path(NONE_FILE): NO_PRODUCTION_TEXT.encode("utf-8")}
    if not _holds(BASELINE, wanted):
        atomic.build_dir(BASELINE, lambda staging: _write(wanted, staging))
        atomic.swap_in(BASELINE)
    return pinned


def record_landing() -> str:
    """After batches landed: pin the baseline and record it and ``data/raw`` in DVC (the
    baseline first, so a kill before ``data/raw.dvc`` is written gets both redone)."""
    from iterate.repo import challenger

    pinned = pin_baseline()
    challenger.pin()
    vcs.dvc("add", "--quiet", str(BASELINE), str(challenger.CHALLENGER), str(RAW))
    return pinned


def _write(files: dict[Path, bytes], folder: Path) -> None:
    for name, data in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(data)


def _holds(folder: Path, files: dict[Path, bytes]) -> bool:
    """Whether ``folder`` holds exactly these files (relative names) with these bytes."""
    if not folder.is_dir():
        return False
    there = sorted(f.relative_to(folder) for f in folder.rglob("*") if f.is_file())
    return there == sorted(files) and \
        all((folder / name).read_bytes() == data for name, data in files.items())


def check_bound(meta: dict[str, Any], verdict: dict[str, Any], entries: list[dict[str, Any]],
                name: str) -> Released:
    """Refuse a candidate released already (under any number, on any branch), and a verdict
    judged against another model than the one in production now (after a rollback or another
    promotion). Returns what was released, for the next version number."""
    released = Released.everywhere(entries, name)
    if meta["sha256"] in released.shas:
        raise IterateError(f"promote: the candidate (SHA-256 {meta['sha256'][:12]}) was "
                           f"released already as v{released.shas[meta['sha256']]}; a new "
                           "version needs a new model (land new data or change params, then "
                           "`dvc repro`)")
    current, judged = registry.current(entries), verdict["baseline"]
    if judged["sha256"] != (current["model_sha256"] if current else None):
        raise IterateError(f"promote: the gate judged the candidate against "
                           f"{_named(judged.get('version'), judged['sha256'])}, but production is "
                           f"now {_named_entry(current)}; {REPIN}")
    return released


@dataclass(frozen=True)
class Released:
    """Every version number and model SHA-256 released: in this registry, in the registry at
    the tip of every branch, remote branch and tag, and in the ``NAME@vX.Y.Z`` tags."""

    versions: frozenset[str]
    shas: dict[str, str]  # model SHA-256 -> the version released with it

    @classmethod
    def everywhere(cls, entries: list[dict[str, Any]], name: str) -> Released:
        found = list(entries)
        for text in vcs.git_file_everywhere(str(REGISTRY)) if vcs.in_git_repo() else []:
            try:
                found += [e for e in registry.parse(text) if isinstance(e, dict)]
            except IterateError:  # registry.parse's one-line errors
                continue  # a broken registry elsewhere names nothing we can trust
        promoted = [e for e in found if e.get("action") == registry.PROMOTE]
        tagged = [t.removeprefix(f"{name}@v") for t in vcs.git_tags(f"{name}@v*")]
        versions = {v for v in [*(str(e.get("version")) for e in promoted), *tagged]
                    if SEMVER.fullmatch(v)}
        return cls(frozenset(versions), {e["model_sha256"]: str(e["version"]) for e in promoted
                                         if e.get("model_sha256")})


def require_deployment_tip(p: Params, entries: list[dict[str, Any]], what: str) -> str | None:
    """Refuse unless HEAD is the tip of the deployment branch: ``registry.branch``, else the
    branch the registry's newest entry was made on, else the branch checked out. Returns it
    (None outside git). So the registry grows on one line of history only."""
    if not vcs.in_git_repo():
        return None
    here = vcs.git_branch()
    branch = p.registry.branch or (entries[-1].get("branch") if entries else None) or here
    if branch is None:
        raise IterateError(f"{what}: HEAD is detached; check out the branch that deploys "
                           "(or name it in registry.branch in params.yaml)")
    tip, head = vcs.git_rev(f"refs/heads/{branch}"), vcs.git_head()
    if tip is None and head is None and here == branch:
        return branch  # a repository without a commit yet
    if tip is None:
        raise IterateError(f"{what}: the deployment branch {branch} does not exist here; "
                           f"fetch it, or name the branch that deploys in registry.branch")
    if head != tip:
        at = f"on {here}" if here else "detached"
        raise IterateError(f"{what}: this commit ({(head or 'none')[:12]}, {at}) is not the tip "
                           f"of the deployment branch {branch} ({tip[:12]}); `git checkout "
                           f"{branch} && dvc checkout` first (or set registry.branch)")
    return branch


def _named(version: str | None, sha256: str | None) -> str:
    if sha256 is None:
        return "no production model"
    return f"v{version} ({sha256[:12]})" if version else f"a model {sha256[:12]}"


def _named_entry(entry: dict[str, Any] | None) -> str:
    return _named(entry["version"], entry["model_sha256"]) if entry else "no production model"


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
