"""The pending challenger's folder (iterate.repo.challenger), pinned at each landing: the
candidate and its evidence when the last verdict left it pending, else a note that none is."""

from __future__ import annotations

import json
import shutil

from test_predict import production_repo

from iterate.repo import challenger
from iterate.repo.layout import CANDIDATE, CHALLENGER, EVIDENCE, GATE


def _files(folder):
    return sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file())


def test_with_no_pending_verdict_the_folder_holds_only_a_note_so_dvc_tracks_no_empty_folder(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    assert challenger.pin() == "no challenger"

    assert _files(CHALLENGER) == [challenger.NONE_FILE]
    assert "No challenger is pending" in (CHALLENGER / challenger.NONE_FILE).read_text()


def test_a_pending_candidate_is_copied_in_with_its_evidence_and_without_the_note(
        tmp_path, monkeypatch):
    production_repo(tmp_path)
    monkeypatch.chdir(tmp_path)
    challenger.pin()  # none pending first: the note is written
    shutil.copytree("models/production", CANDIDATE)
    sha = json.loads((CANDIDATE / "model.json").read_text())["sha256"]
    GATE.parent.mkdir(parents=True, exist_ok=True)
    GATE.write_text(json.dumps({"verdict": "pending", "models": {"candidate": sha}}))
    EVIDENCE.parent.mkdir(parents=True, exist_ok=True)
    EVIDENCE.write_bytes(b"evidence")

    assert challenger.pin() == "the pending challenger"

    assert _files(CHALLENGER) == sorted([*_files(CANDIDATE), challenger.EVIDENCE_FILE])


def test_with_no_production_the_baseline_holds_only_a_note_and_then_production_s_files(
        tmp_path, monkeypatch):
    from iterate.repo import deploy
    from iterate.repo.layout import BASELINE, NONE_FILE, PRODUCTION

    monkeypatch.chdir(tmp_path)
    deploy.pin_baseline()
    assert _files(BASELINE) == [NONE_FILE], "DVC tracks no empty folder"
    assert "No production model yet" in (BASELINE / NONE_FILE).read_text()

    production_repo(tmp_path)
    deploy.pin_baseline()
    assert _files(BASELINE) == _files(PRODUCTION), "production's files, without the note"
    assert all((BASELINE / f).read_bytes() == (PRODUCTION / f).read_bytes()
               for f in _files(PRODUCTION))
