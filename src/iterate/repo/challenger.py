"""The pending challenger: a candidate one holdout could not decide, kept beside production in
``models/challenger`` with its paired evidence (``evidence.npz``: each judged row's label,
the challenger's and production's scores, the batch and production's SHA-256).

Like the baseline it is pinned when new data lands, so no stage reads a folder that the loop
rewrites after ``dvc repro``: the landing copies the last iteration's candidate and evidence in
when the gate's verdict was ``pending`` (for that candidate), and otherwise leaves only a
``NONE.txt`` saying none is pending.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from iterate.repo import atomic, bundles
from iterate.repo.jsonfile import read_json
from iterate.repo.layout import CANDIDATE, CHALLENGER, EVIDENCE, GATE, NONE_FILE

EVIDENCE_FILE = "evidence.npz"
PENDING = "pending"
NONE_TEXT = "No challenger is pending: the last verdict was not `pending`.\n"


def pin() -> str:
    """Copy the pending candidate and its evidence into ``models/challenger``, or empty it.
    Returns what was pinned. The caller records it with ``dvc add``."""
    keep = _pending()
    files = sorted(f for f in CANDIDATE.rglob("*") if f.is_file()) if keep else []

    def fill(staging: Path) -> None:
        for f in files:
            target = staging / f.relative_to(CANDIDATE)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f, target)
        if keep:
            shutil.copyfile(EVIDENCE, staging / EVIDENCE_FILE)
        else:
            (staging / NONE_FILE).write_text(NONE_TEXT, encoding="utf-8")

    atomic.build_dir(CHALLENGER, fill)
    atomic.swap_in(CHALLENGER)
    return "the pending challenger" if keep else "no challenger"


def _pending() -> bool:
    """Whether the last verdict left the candidate in ``models/candidate`` pending."""
    if not (GATE.is_file() and EVIDENCE.is_file() and bundles.exists(CANDIDATE)):
        return False
    verdict = read_json(GATE, "the evaluate stage did not write it")
    return verdict.get("verdict") == PENDING and \
        (verdict.get("models") or {}).get("candidate") == bundles.read_meta(CANDIDATE)["sha256"]
