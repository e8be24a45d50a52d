"""End to end: promote, roll back, promote again, in a temporary repository with real DVC, real
git and GTO tags. One scenario is built once (module scope); each test asserts one fact of it.

    replay 2 batches, repro, promote --tag            -> v1.0.0 (no baseline)
    replay 1 batch,   repro, promote --tag            -> v1.0.1 (forced if the gate rejects)
    rollback 1.0.0 --reason ... --tag                 -> v1.0.0 again
    replay 1 batch,   repro, promote --tag            -> v1.0.2 (numbering continues)
    model.params.alpha changed and a gate rule that must fail, repro:
        promote, promote --force (no reason)          -> refused, nothing changed
        promote --force --reason ... --tag            -> v1.1.0 (a param change: minor)
    then the failures: rollback to an unknown version, predict with a tampered model, rollback
    whose bytes are in neither the DVC cache nor the remote.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from conftest import ROOT, Repo, template_files
from helpers import SGD_PARAMS, sha256, tree_digest, week

from iterate.repo import registry

pytestmark = pytest.mark.slow

NAME = "flight-delay"
BATCHES = ["2013-01-01_2013-01-07", "2013-01-08_2013-01-14", "2013-01-15_2013-01-21",
           "2013-01-22_2013-01-28"]
ROLLBACK_REASON = "v1.0.1 scores evening flights too high"
FORCE_REASON = "alpha 0.001 reviewed by hand"
GTO = str(Path(sys.executable).parent / "gto")  # `python -m gto` does not run (no __main__)


class Scenario:
    """What the scenario did and saw, step by step, for the tests to assert on."""

    def __init__(self, repo: Repo, work: Path):
        self.repo = repo
        self.work = work
        self.promoted: dict[str, dict[str, Any]] = {}  # version -> what promote judged
        self.results: dict[str, subprocess.CompletedProcess] = {}
        self.snapshots: dict[str, Any] = {}

    def read(self, path: str) -> Any:
        return json.loads((self.repo.path / path).read_text())

    def models_digest(self) -> dict[str, str]:
        return tree_digest(self.repo.path, "models")

    def tags(self) -> list[str]:
        return self.repo.git("tag", "--list").stdout.split()

    def gto_show(self) -> dict[str, Any]:
        return json.loads(self.repo.run(GTO, "show", "--json").stdout)

    def registry(self) -> list[dict[str, Any]]:
        """The registry's entries as iterate reads them: JSON lines (PyYAML, a YAML 1.1
        reader, would take a number such as 3e-06 for a string)."""
        return registry.parse((self.repo.path / "models/registry.yaml").read_text())

    def promote(self, reason: str) -> str:
        """Promote with tags; with --force --reason when the gate rejects. The version."""
        gate = self.read("metrics/gate.json")
        forced = not gate["promotable"]
        args = ["promote", "--tag", *(["--force", "--reason", reason] if forced else [])]
        judged = {"gate": gate, "evaluation": self.read("metrics/evaluation.json"),
                  "candidate": self.read("models/candidate/model.json"), "forced": forced}
        out = self.repo.iterate(*args)
        version = self.registry()[-1]["version"]
        judged["stdout"] = out.stdout
        self.promoted[version] = judged
        return version


def set_remote(repo: Repo, url: Path) -> None:
    """What `dvc remote modify --local local url URL` writes, without starting DVC."""
    (repo.path / ".dvc/config.local").write_text(f"['remote \"local\"']\n    url = {url}\n")


def build(work: Path) -> Scenario:
    path = work / "repo"
    for name in template_files():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target)
    repo = Repo(path)
    s = Scenario(repo, work)
    repo.git("init", "-q", "-b", "main")
    set_remote(repo, work / "dvc-storage")
    repo.set_params(**{"replay.warmup_batches": 2, "trigger.when": "always", **SGD_PARAMS})
    repo.git("add", "-A")
    repo.git("commit", "-q", "-m", "template, two warm-up batches, sgd_logistic")

    repo.iterate("replay", "--through", "2013-01-08")
    repo.dvc("repro")
    s.promote("first version, forced: the gate should say no_baseline")
    repo.iterate("replay", "--next")
    repo.dvc("repro")
    s.promote("second version, forced: the gate rejected it")

    s.results["rollback"] = repo.iterate("rollback", "1.0.0", "--reason", ROLLBACK_REASON,
                                         "--tag")
    s.snapshots["after rollback"] = {
        "model sha256": sha256(path / "models/production/model.skops"),
        "production.dvc": yaml.safe_load((path / "models/production.dvc").read_text()),
        "card": (path / "models/production/CARD.md").read_text(),
        "gto": s.gto_show(),
    }

    repo.iterate("replay", "--next")
    repo.dvc("repro")
    s.promote("third version, forced: the gate rejected it")

    # A change of a model param, and a gate rule no candidate can pass; params.yaml is left
    # for `promote --tag` to commit, as a user who edits, runs `dvc repro` and promotes would.
    # No new data: the baseline is pinned to v1.0.2 by hand, for the gate to judge against it.
    s.results["baseline"] = repo.iterate("baseline")
    repo.set_params(**{"model.params.alpha": 0.01,
                       "gate.rules.roc_auc.min_improvement": 0.5})
    repo.dvc("repro")
    s.snapshots["rejected gate"] = s.read("metrics/gate.json")
    before = (s.models_digest(), s.tags())
    s.results["promote rejected"] = repo.iterate("promote", check=False)
    s.results["force without reason"] = repo.iterate("promote", "--force", "--tag", check=False)
    s.results["force with blank reason"] = repo.iterate("promote", "--force", "--reason", "  ",
                                                        check=False)
    s.snapshots["refused promotions"] = (before, (s.models_digest(), s.tags()))
    s.promote(FORCE_REASON)

    s.snapshots["history"] = json.loads(repo.iterate("history", "--json").stdout)
    s.snapshots["gto"] = s.gto_show()

    scored_in = work / "in.csv"
    week(2, step=50).to_csv(scored_in, index=False)
    s.results["predict"] = repo.iterate("predict", str(scored_in), "-o", str(work / "out.csv"))

    # Rollback to a version that never existed.
    before = (s.models_digest(), s.tags(), repo.git("rev-parse", "HEAD").stdout)
    s.results["rollback unknown"] = repo.iterate("rollback", "9.9.9", "--reason", "typo", "--tag",
                                                 check=False)
    s.snapshots["rollback unknown"] = (before, (s.models_digest(), s.tags(),
                                                repo.git("rev-parse", "HEAD").stdout))

    # A flipped byte in the production model; then the same with model.json made to match.
    model = path / "models/production/model.skops"
    meta_file = path / "models/production/model.json"
    original, original_meta = model.read_bytes(), meta_file.read_bytes()
    tampered = bytearray(original)
    tampered[len(tampered) // 2] ^= 0x01
    model.write_bytes(bytes(tampered))
    logs_before = sorted((path / "data/predictions").iterdir())
    s.results["predict tampered"] = repo.iterate("predict", str(scored_in), "-o",
                                                 str(work / "tampered.csv"), check=False)
    meta = json.loads(original_meta)
    meta_file.write_text(json.dumps({**meta, "sha256": sha256(model)}))
    s.results["predict tampered, model.json too"] = repo.iterate(
        "predict", str(scored_in), "-o", str(work / "tampered.csv"), check=False)
    s.snapshots["predictions after tampering"] = (
        logs_before, sorted((path / "data/predictions").iterdir()))
    model.write_bytes(original)
    meta_file.write_bytes(original_meta)

    # Rollback whose bytes are gone: no DVC cache, and a remote that holds nothing.
    shutil.rmtree(path / ".dvc/cache")
    (work / "empty-remote").mkdir()
    set_remote(repo, work / "empty-remote")
    dvc_file = (path / "models/production.dvc").read_bytes()
    before = (s.models_digest(), s.tags())
    s.results["rollback lost bytes"] = repo.iterate("rollback", "1.0.1", "--reason", "try",
                                                    "--tag", check=False)
    s.snapshots["rollback lost bytes"] = (
        before, (s.models_digest(), s.tags()),
        (dvc_file, (path / "models/production.dvc").read_bytes()),
        repo.git("status", "--porcelain", "--", "models").stdout)
    return s


@pytest.fixture(scope="module")
def s(tmp_path_factory) -> Scenario:
    return build(tmp_path_factory.mktemp("deploy"))


def entry_of(s: Scenario, version: str, action: str = "promote") -> dict[str, Any]:
    return next(e for e in s.snapshots["history"]
                if e["version"] == version and e["action"] == action)


def rows(s: Scenario, batch: str) -> int:
    return pq.read_metadata(s.repo.path / "data/raw" / f"{batch}.parquet").num_rows


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def commit_of(s: Scenario, ref: str) -> str:
    return s.repo.git("rev-parse", f"{ref}^{{commit}}").stdout.strip()


def show(s: Scenario, ref: str, path: str) -> str:
    return s.repo.git("show", f"{ref}:{path}").stdout


# ---------------------------------------------------------------- the registry (history --json)


def test_history_lists_each_promotion_and_the_rollback_in_order(s):
    history = s.snapshots["history"]

    assert [(e["action"], e["version"]) for e in history] == [
        ("promote", "1.0.0"), ("promote", "1.0.1"), ("rollback", "1.0.0"),
        ("promote", "1.0.2"), ("promote", "1.1.0")]
    assert history == s.registry(), "history --json prints models/registry.yaml"


def test_history_records_the_reason_of_each_change(s):
    history = s.snapshots["history"]

    assert s.promoted["1.0.0"]["gate"]["verdict"] == "no_baseline"
    assert history[0]["forced"] is False
    assert history[0]["reason"].startswith("no baseline yet")
    for entry in (history[1], history[3]):
        judged = s.promoted[entry["version"]]
        assert entry["forced"] is judged["forced"]
        assert entry["gate"]["verdict"] == judged["gate"]["verdict"]
        if not judged["forced"]:
            assert entry["reason"] == "; ".join(judged["gate"]["reasons"])
    assert history[2]["reason"] == ROLLBACK_REASON
    assert history[2]["forced"] is True
    assert history[4]["reason"] == FORCE_REASON
    assert history[4]["forced"] is True
    assert history[4]["gate"]["verdict"] == "reject"


def test_history_records_which_version_each_change_replaced(s):
    assert [e["replaced"] for e in s.snapshots["history"]] == [
        None, "1.0.0", "1.0.1", "1.0.0", "1.0.2"]


def test_history_records_the_training_batches_and_rows_of_each_version(s):
    trained = {"1.0.0": BATCHES[:1], "1.0.1": BATCHES[:2], "1.0.2": BATCHES[:3],
               "1.1.0": BATCHES[:3]}
    for entry in s.snapshots["history"]:
        batches = trained[entry["version"]]
        data = entry["training_data"]
        assert data["batches"] == batches, entry["version"]
        assert data["rows"] == sum(rows(s, b) for b in batches)
        assert data["start"].startswith(batches[0][:10])
        assert data["end"].startswith(batches[-1][-10:])
    assert s.snapshots["history"][2]["training_data"] == entry_of(s, "1.0.0")["training_data"]


def test_history_records_the_holdout_metrics_with_deltas_as_the_gate_judged_them(s):
    holdouts = {"1.0.0": BATCHES[1], "1.0.1": BATCHES[2], "1.0.2": BATCHES[3],
                "1.1.0": BATCHES[3]}
    for version, batch in holdouts.items():
        entry, judged = entry_of(s, version), s.promoted[version]
        assert entry["holdout"]["batch"] == batch
        assert entry["holdout"]["rows"] == rows(s, batch)
        assert entry["metrics"] == judged["evaluation"]["metrics"]
        assert entry["slices"]["column"] == "origin"
        assert set(entry["slices"]["values"]) == {"EWR", "JFK", "LGA"}

    first = entry_of(s, "1.0.0")["metrics"]
    assert all(m["production"] is None and m["delta"] is None for m in first.values())
    for version in ("1.0.1", "1.0.2", "1.1.0"):
        for name, m in entry_of(s, version)["metrics"].items():
            assert m["delta"] == pytest.approx(m["candidate"] - m["production"], abs=2e-6), name
            assert m["delta_low"] <= m["delta"] <= m["delta_high"], name


def test_each_candidate_was_compared_with_the_version_in_production_then(s):
    sha = {v: entry_of(s, v)["model_sha256"] for v in s.promoted}

    assert s.promoted["1.0.0"]["evaluation"]["models"]["production"] is None
    assert s.promoted["1.0.1"]["evaluation"]["models"]["production"] == sha["1.0.0"]
    # after the rollback to 1.0.0, the next candidate is judged against 1.0.0, not 1.0.1
    assert s.promoted["1.0.2"]["evaluation"]["models"]["production"] == sha["1.0.0"]
    assert s.promoted["1.1.0"]["evaluation"]["models"]["production"] == sha["1.0.2"]


def test_history_records_the_model_hash_and_the_dvc_out_of_each_version(s):
    promotions = [e for e in s.snapshots["history"] if e["action"] == "promote"]
    for entry in promotions:
        assert entry["model_sha256"] == s.promoted[entry["version"]]["candidate"]["sha256"]
        dvc = entry["dvc"]
        assert dvc["md5"].endswith(".dir")
        assert dvc["path"] == "production"
        assert dvc["nfiles"] >= 3  # model.skops, model.json, CARD.md, ...
        committed = yaml.safe_load(show(s, f"{NAME}@v{entry['version']}",
                                        "models/production.dvc"))
        assert committed["outs"] == [dvc]
    production = s.repo.path / "models/production"
    assert promotions[-1]["dvc"]["nfiles"] == sum(f.is_file() for f in production.iterdir())
    assert len({e["model_sha256"] for e in promotions}) == len(promotions)
    assert len({e["dvc"]["md5"] for e in promotions}) == len(promotions)
    rollback = s.snapshots["history"][2]
    assert rollback["model_sha256"] == entry_of(s, "1.0.0")["model_sha256"]
    assert rollback["dvc"] == entry_of(s, "1.0.0")["dvc"]


# ---------------------------------------------------------------- rollback and version numbers


def test_rollback_brings_back_the_exact_bytes_and_dvc_out_of_the_version(s):
    after = s.snapshots["after rollback"]
    first = entry_of(s, "1.0.0")

    assert s.results["rollback"].stdout.startswith(
        f"rolled back {NAME} to v1.0.0 (was v1.0.1)")
    assert after["model sha256"] == first["model_sha256"]
    assert after["production.dvc"] == {"outs": [first["dvc"]]}


def test_after_a_rollback_the_next_version_continues_from_the_highest(s):
    assert "1.0.2" in s.promoted
    assert s.promoted["1.0.2"]["stdout"].startswith(f"promoted {NAME} v1.0.2 ")


def test_a_changed_model_param_bumps_the_minor_version(s):
    tuned, before = entry_of(s, "1.1.0"), entry_of(s, "1.0.2")

    assert tuned["model_params"]["params"]["alpha"] == 0.01
    assert before["model_params"]["params"]["alpha"] == 0.03
    assert s.promoted["1.1.0"]["stdout"].startswith(f"promoted {NAME} v1.1.0 ({FORCE_REASON})")


# ---------------------------------------------------------------- changelog and model card


def test_the_changelog_lists_every_entry_newest_first(s):
    text = (s.repo.path / "models/CHANGELOG.md").read_text()
    headings = [line.split(" (")[0] for line in text.splitlines() if line.startswith("## ")]

    assert headings == ["## v1.1.0: promoted", "## v1.0.2: promoted",
                        "## v1.0.0: rolled back to", "## v1.0.1: promoted",
                        "## v1.0.0: promoted"]
    assert f"- **Why:** {ROLLBACK_REASON}" in text
    assert f"- **Why:** {FORCE_REASON}" in text


def test_the_model_card_names_the_version_in_production(s):
    card = (s.repo.path / "models/production/CARD.md").read_text()
    assert card.startswith(f"# Model card: {NAME} v1.1.0\n")
    assert entry_of(s, "1.1.0")["model_sha256"] in card
    # the rollback restored 1.0.0's whole folder, its card included
    assert s.snapshots["after rollback"]["card"].startswith(f"# Model card: {NAME} v1.0.0\n")


# ---------------------------------------------------------------- git tags and GTO


def test_each_version_and_production_assignment_is_an_annotated_tag_on_its_commit(s):
    promotion_commit = {v: commit_of(s, f"{NAME}@v{v}") for v in s.promoted}
    expected = {f"{NAME}@v{v}": promotion_commit[v] for v in s.promoted}
    expected.update({f"{NAME}#prod#1": promotion_commit["1.0.0"],
                     f"{NAME}#prod#2": promotion_commit["1.0.1"],
                     f"{NAME}#prod#3": promotion_commit["1.0.0"],  # the rollback
                     f"{NAME}#prod#4": promotion_commit["1.0.2"],
                     f"{NAME}#prod#5": promotion_commit["1.1.0"]})

    assert sorted(s.tags()) == sorted(expected)
    for tag, commit in expected.items():
        assert s.repo.git("cat-file", "-t", tag).stdout.strip() == "tag", f"{tag}: annotated"
        assert commit_of(s, tag) == commit, tag
    for version, commit in promotion_commit.items():
        subject = s.repo.git("log", "-1", "--format=%s", commit).stdout.strip()
        assert subject == f"promote {NAME} v{version}"
        committed = yaml.safe_load(show(s, commit, "models/registry.yaml"))["versions"]
        assert (committed[-1]["action"], committed[-1]["version"]) == ("promote", version)


def test_the_version_tag_commit_holds_the_params_the_version_was_trained_with(s):
    committed = yaml.safe_load(show(s, f"{NAME}@v1.1.0", "params.yaml"))
    assert committed["model"]["params"] == entry_of(s, "1.1.0")["model_params"]["params"]


def test_the_rollback_is_committed_with_its_reason(s):
    subjects = s.repo.git("log", "--format=%s").stdout.splitlines()
    assert f"roll back {NAME} to v1.0.0: {ROLLBACK_REASON}" in subjects
    assert s.results["rollback"].stdout.rstrip().endswith(f"tagged {NAME}#prod#3")


def test_gto_reports_the_version_in_the_production_stage(s):
    assert s.snapshots["after rollback"]["gto"][NAME]["stage"] == {"prod": "v1.0.0"}
    final = s.snapshots["gto"][NAME]
    assert final["stage"] == {"prod": "v1.1.0"}
    assert final["version"] == "v1.1.0"


# ---------------------------------------------------------------- refusals that change nothing


def test_promote_refuses_a_candidate_the_gate_rejects_and_changes_nothing(s):
    assert s.snapshots["rejected gate"]["verdict"] == "reject"
    line = one_error_line(s.results["promote rejected"])
    assert "the gate says reject" in line
    assert "worst case does not reach the required +0.5000" in line
    assert "--force --reason" in line
    before, after = s.snapshots["refused promotions"]
    assert after == before


def test_promote_force_without_a_reason_is_refused(s):
    for case in ("force without reason", "force with blank reason"):
        line = one_error_line(s.results[case])
        assert "--force needs --reason" in line, case
    before, after = s.snapshots["refused promotions"]
    assert after == before


def test_rollback_to_an_unknown_version_fails_with_one_error_line_and_changes_nothing(s):
    line = one_error_line(s.results["rollback unknown"])
    assert "no version 9.9.9 in the registry (known: 1.0.0, 1.0.1, 1.0.2, 1.1.0)" in line
    before, after = s.snapshots["rollback unknown"]
    assert after == before


def test_rollback_whose_bytes_are_lost_fails_and_leaves_production_untouched(s):
    line = one_error_line(s.results["rollback lost bytes"])
    assert "the bytes of v1.0.1 are neither in the DVC cache nor in the remote" in line
    before, after, (dvc_before, dvc_after), status = s.snapshots["rollback lost bytes"]
    assert dvc_after == dvc_before
    assert after == before  # models/: production, production.dvc, registry, changelog
    assert status == ""


# ---------------------------------------------------------------- predict


def test_predict_scores_with_the_version_in_production(s):
    assert s.results["predict"].stdout.startswith("scored ")
    assert "with v1.1.0" in s.results["predict"].stdout
    header, *lines = (s.work / "out.csv").read_text().splitlines()
    assert header.endswith(",probability,predicted_label,model_version")
    assert lines and all(line.endswith(",1.1.0") for line in lines)


def test_predict_refuses_a_tampered_model_and_writes_nothing(s):
    line = one_error_line(s.results["predict tampered"])
    assert "models/production/model.skops" in line
    assert "does not match model.json" in line
    # model.json rewritten to match: the registry's SHA-256 still catches it
    line = one_error_line(s.results["predict tampered, model.json too"])
    assert "does not match the registry" in line
    assert not (s.work / "tampered.csv").exists()
    logs_before, logs_after = s.snapshots["predictions after tampering"]
    assert logs_after == logs_before
