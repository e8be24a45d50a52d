"""A promotion is bound to what the gate judged: the production model it judged against, a
candidate never released before, the tip of the deployment branch, a version number never
used on any branch. Each refusal is one line and changes nothing.

Fast: a git repository holding only the files ``promote`` reads before deciding (no model is
trained; the refusals all come before anything would be loaded or written)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from conftest import GIT_IDENTITY
from helpers import shipped_params, tree_digest

from iterate.errors import IterateError
from iterate.repo import deploy, registry

P_SHA, Q_SHA = "a" * 64, "b" * 64  # two models released before


def git(*args: str) -> str:
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def entry(version: str, sha: str, action: str = "promote", branch: str = "main") -> dict:
    """A whole registry entry, as promote and rollback write them."""
    return {"version": version, "action": action, "time": "2026-01-01T00:00:00Z",
            "reason": "test", "forced": False, "model_sha256": sha, "branch": branch,
            "dvc": {"md5": "0.dir", "path": "production"}, "kind": "sgd_logistic",
            "train_mode": "full", "model_params": {"kind": "sgd_logistic"},
            "training_data": {}}


def write_registry(entries: list[dict]) -> None:
    Path("models/registry.yaml").write_text(registry.dump(entries, "flight-delay"))


@pytest.fixture
def repo(tmp_path, monkeypatch) -> str:
    """A candidate judged against v1.0.0 (promotable), v1.0.0 in production, all committed on
    main. Returns the candidate's SHA-256."""
    monkeypatch.chdir(tmp_path)
    for key, value in GIT_IDENTITY.items():
        monkeypatch.setenv(key, value)
    git("init", "-q", "-b", "main")
    candidate = Path("models/candidate")
    candidate.mkdir(parents=True)
    (candidate / "model.skops").write_bytes(b"the candidate")
    sha = hashlib.sha256(b"the candidate").hexdigest()
    (candidate / "model.json").write_text(json.dumps({  # every key bundles.read_meta checks
        "sha256": sha, "kind": "sgd_logistic", "model_params": {"kind": "sgd_logistic"},
        "features": [], "label": "late", "threshold": 0.3, "input_schema": {},
        "output": {}, "seen": {}}))
    Path("metrics").mkdir()
    models = {"candidate": sha, "production": P_SHA}
    Path("metrics/evaluation.json").write_text(json.dumps({"models": models, "metrics": {}}))
    Path("metrics/slices.json").write_text("{}")
    Path("metrics/gate.json").write_text(json.dumps({
        "verdict": "promote", "promotable": True, "reasons": ["all rules pass"],
        "models": models, "baseline": {"version": "1.0.0", "sha256": P_SHA},
        "compatibility": []}))
    write_registry([entry("1.0.0", P_SHA)])
    git("add", "-A")
    git("commit", "-qm", "v1.0.0 in production, a candidate judged against it")
    return sha


def refused(p=None) -> str:
    """Promote, expecting a refusal that changes nothing; its one line."""
    before = tree_digest(Path("."), "models", "metrics")
    with pytest.raises(IterateError) as caught:
        deploy.promote(p or shipped_params(), force=False, reason=None)
    assert tree_digest(Path("."), "models", "metrics") == before, "a refusal changes nothing"
    line = str(caught.value)
    assert "\n" not in line
    return line


def test_the_fixture_candidate_passes_every_binding_check(repo):
    entries = deploy.read_registry()
    released = deploy.check_bound({"sha256": repo}, json.loads(Path(
        "metrics/gate.json").read_text()), entries, "flight-delay")
    assert released.versions == {"1.0.0"}
    assert deploy.require_deployment_tip(shipped_params(), entries, "promote") == "main"


def test_promote_refuses_when_production_is_no_longer_the_model_the_gate_judged_against(repo):
    write_registry([entry("1.0.0", P_SHA), entry("1.0.1", Q_SHA)])  # another promote since
    line = refused()
    assert "judged the candidate against v1.0.0 (aaaaaaaaaaaa)" in line
    assert "production is now v1.0.1 (bbbbbbbbbbbb)" in line
    assert "`iterate baseline`" in line


def test_promote_refuses_to_redeploy_a_candidate_that_was_just_rolled_back(repo):
    write_registry([entry("1.0.0", P_SHA), entry("1.0.1", repo),
                    entry("1.0.0", P_SHA, action="rollback")])
    line = refused()
    assert f"the candidate (SHA-256 {repo[:12]}) was released already as v1.0.1" in line


def test_promote_refuses_a_candidate_released_only_on_another_branch(repo):
    git("checkout", "-q", "-b", "other")
    write_registry([entry("1.0.0", P_SHA), entry("1.0.1", repo, branch="other")])
    git("commit", "-qam", "released on another branch")
    git("checkout", "-q", "main")
    assert "was released already as v1.0.1" in refused()


def test_promote_refuses_off_the_tip_of_the_deployment_branch(repo):
    Path("notes.txt").write_text("a later commit on main")
    git("add", "notes.txt")
    git("commit", "-qm", "later")
    git("checkout", "-q", "--detach", "HEAD~1")
    line = refused()
    assert "is not the tip of the deployment branch main" in line and "detached" in line

    git("checkout", "-q", "-b", "feature")  # a branch of its own: still not where v1.0.0 was
    line = refused()
    assert "on feature) is not the tip of the deployment branch main" in line


def test_registry_branch_in_params_names_the_deployment_branch(repo):
    git("checkout", "-q", "-b", "release")
    git("commit", "-q", "--allow-empty", "-m", "release moves on")
    p = shipped_params()
    p = dataclasses.replace(p, registry=dataclasses.replace(p.registry, branch="release"))
    assert deploy.require_deployment_tip(p, deploy.read_registry(), "promote") == "release"
    git("checkout", "-q", "main")
    assert "deployment branch release" in refused(p)


def test_promote_refuses_a_verdict_that_names_no_baseline(repo):
    gate = json.loads(Path("metrics/gate.json").read_text())
    del gate["baseline"]
    Path("metrics/gate.json").write_text(json.dumps(gate))
    assert "does not name the production model it was judged against" in refused()


def test_a_version_number_used_on_any_branch_or_tag_is_never_given_again(repo):
    """`git checkout HEAD~3 && dvc checkout` brings back an older registry: the next number
    still continues from the highest one released anywhere."""
    git("checkout", "-q", "-b", "ahead")
    write_registry([entry("1.0.0", P_SHA), entry("1.0.1", Q_SHA), entry("1.0.3", "c" * 64)])
    git("commit", "-qam", "further releases")
    git("checkout", "-q", "main")
    git("tag", "-a", "flight-delay@v1.0.7", "-m", "a release tagged elsewhere")
    entries = deploy.read_registry()
    used = deploy.Released.everywhere(entries, "flight-delay").versions
    assert used == {"1.0.0", "1.0.1", "1.0.3", "1.0.7"}
    meta = {"model_params": {"kind": "sgd_logistic"}}
    assert registry.next_version(entries, meta, False) == "1.0.1", "this registry alone"
    assert registry.next_version(entries, meta, False, used=used) == "1.0.8"


def test_a_broken_registry_on_another_branch_names_no_version(repo):
    git("checkout", "-q", "-b", "broken")
    Path("models/registry.yaml").write_text("versions: [unclosed\n")
    git("commit", "-qam", "garbage")
    git("checkout", "-q", "main")
    assert deploy.Released.everywhere(deploy.read_registry(), "flight-delay").versions == {
        "1.0.0"}


def test_the_baseline_is_refused_when_production_does_not_match_the_registry(repo):
    production = Path("models/production")
    production.mkdir()
    (production / "model.skops").write_bytes(b"edited by hand")
    with pytest.raises(IterateError, match="does not match the registry's v1.0.0"):
        deploy.pin_baseline()
    assert not Path("models/baseline").exists()


def test_the_baseline_is_a_copy_of_production_checked_against_the_registry(repo):
    production = Path("models/production")
    production.mkdir()
    (production / "model.skops").write_bytes(b"v1.0.0's bytes")
    (production / "release.json").write_text('{"version": "1.0.0"}')
    write_registry([entry("1.0.0", hashlib.sha256(b"v1.0.0's bytes").hexdigest())])
    assert deploy.pin_baseline().startswith("production v1.0.0")
    assert tree_digest(Path("models/baseline"), ".") == tree_digest(production, ".")


def test_an_empty_registry_pins_a_baseline_of_no_model(repo):
    Path("models/registry.yaml").unlink()
    assert "no production model yet" in deploy.pin_baseline()
    assert [f.name for f in Path("models/baseline").iterdir()] == ["NONE.txt"]
