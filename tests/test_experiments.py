"""Experiments end to end, through the Makefile's targets, in a temporary repository: after one
committed iteration of the loop, a two-point grid run by DVC's queue with two workers
(`make exp-grid`), compared (`dvc exp show --json`, `make exp-show`) and turned into a git
branch for a pull request (`make exp-branch`)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import SGD_PARAMS

pytestmark = pytest.mark.slow

MAKE = shutil.which("make")
BIN = Path(sys.executable).parent  # the environment running the tests: python, dvc, iterate
GRID = "model.params.alpha=0.01,0.03"  # a DVC sweep: one experiment per value


def make(repo, *args: str, check: bool = True, timeout: float = 600):
    """``make ARGS`` in the temporary repository, with this environment as the venv.

    It has no .venv: ``BIN`` points make at this interpreter's bin folder, and ``STAMP`` at a
    fresh file, so ``setup`` is up to date and never reinstalls anything. The output goes to a
    file, not a pipe: the queue's detached workers inherit it and would hold a pipe open."""
    stamp = repo.path.parent / "venv-stamp"
    stamp.touch()
    log = repo.path.parent / "make.log"
    with log.open("w") as out:
        result = subprocess.run([MAKE, f"BIN={BIN}", f"STAMP={stamp}", *args], cwd=repo.path,
                                env=repo.env, stdout=out, stderr=subprocess.STDOUT,
                                timeout=timeout, check=False)
    output = log.read_text()
    if check and result.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} exited {result.returncode}\n{output}")
    return result.returncode, output


def experiments_of(repo, baseline: str) -> dict[str, dict]:
    """``dvc exp show --json``: the experiments derived from ``baseline``, by name."""
    rows = json.loads(repo.dvc("exp", "show", "--json").stdout)
    row = next(r for r in rows if r["rev"] == baseline)
    found = {}
    for exp in row.get("experiments") or []:
        rev = exp["revs"][0]
        found[rev["name"]] = {"rev": rev["rev"], "state": (exp.get("executor") or {}).get("state"),
                              "params": rev["data"]["params"]["params.yaml"]["data"],
                              "metrics": {path: m.get("data", {})
                                          for path, m in rev["data"]["metrics"].items()}}
    return found


@pytest.mark.skipif(MAKE is None or not (BIN / "dvc").exists(),
                    reason="needs make and the dvc script beside this interpreter")
def test_grid_on_the_queue_compare_and_branch_for_a_pull_request(template_repo):
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, **SGD_PARAMS})
    repo.git("commit", "-qam", "fast model")

    code, out = make(repo, "exp-show", check=False)
    assert code == 2 and "run `make run` first" in out, "no iteration yet: one clear line"

    # Experiments start from a committed iteration (`make run`). Its promotion changed no
    # stage's input (the stages read the baseline pinned at landing): the commit reproduces.
    repo.iterate("loop", "--iterations", "2")
    head = repo.git("rev-parse", "HEAD").stdout.strip()
    assert repo.git("status", "--porcelain").stdout.strip() == ""
    assert json.loads(repo.dvc("status", "--json").stdout) == {}

    _, dry = make(repo, "-n", "exp", "S=model.params.alpha=0.01 train.mode=incremental")
    assert "dvc exp run --temp -S 'model.params.alpha=0.01' -S 'train.mode=incremental'" in dry

    try:
        _, out = make(repo, "exp-grid", f"GRID={GRID}", "JOBS=2")
    finally:
        repo.dvc("queue", "stop", check=False)  # idle workers would exit by themselves anyway
    assert "Started '2' new experiments task queue workers" in out
    assert out.count("Queued experiment") == 2 and "compare them: make exp-show" in out

    exps = experiments_of(repo, head)
    assert len(exps) == 2, exps.keys()
    by_alpha = {e["params"]["model"]["params"]["alpha"]: name for name, e in exps.items()}
    assert set(by_alpha) == {0.01, 0.03}
    production_auc = set()
    for name, exp in exps.items():
        assert exp["state"] == "success", name
        assert exp["params"]["model"]["estimator"] == SGD_PARAMS["model.estimator"]
        evaluation = exp["metrics"]["metrics/numbers/evaluate.json"]
        for metric in ("roc_auc", "f1", "log_loss"):
            values = evaluation["metrics"][metric]
            assert isinstance(values["candidate"], float), (name, metric, values)
            assert isinstance(values["delta"], float), (name, metric, values)
        production_auc.add(evaluation["metrics"]["roc_auc"]["production"])
        assert exp["metrics"]["metrics/numbers/gate.json"]["passed"] in (0, 1)
    assert len(production_auc) == 1, "both against the same baseline, same holdout"
    # The point with HEAD's own params runs nothing: its metrics are HEAD's, to the digit.
    same = exps[by_alpha[0.03]]["metrics"]
    assert same["metrics/numbers/evaluate.json"] == json.loads(
        (repo.path / "metrics/numbers/evaluate.json").read_text())

    _, table = make(repo, "exp-show")
    lines = [line for line in table.splitlines() if line.startswith("|")]
    header = lines[0]
    for column in ("Experiment", "model.params.alpha", "metrics.roc_auc.candidate",
                   "metrics.f1.delta", "passed"):
        assert column in header, header
    assert "contract." not in header and "drift.alpha" not in header, "only params that differ"
    assert "candidate_low" not in header and "src/iterate" not in header, "only key metrics"
    assert all(any(name in line for line in lines) for name in exps), table

    # The best experiment becomes a branch, whose commit holds its params, lock and metrics.
    best = by_alpha[0.01]
    make(repo, "exp-branch", f"EXP={best}", "BRANCH=try-alpha")
    assert repo.git("rev-parse", "try-alpha").stdout.strip() == exps[best]["rev"]
    assert repo.git("rev-parse", "try-alpha^").stdout.strip() == head
    params = yaml.safe_load(repo.git("show", "try-alpha:params.yaml").stdout)
    assert params["model"]["params"]["alpha"] == 0.01
    committed = json.loads(repo.git("show", "try-alpha:metrics/numbers/evaluate.json").stdout)
    assert committed == exps[best]["metrics"]["metrics/numbers/evaluate.json"]
    changed = repo.git("diff", "--name-only", "main", "try-alpha").stdout.split()
    assert {"params.yaml", "dvc.lock", "metrics/evaluation.json",
            "metrics/numbers/evaluate.json"} <= set(changed)
    # ... and the workspace was never touched: still main, as committed by the loop.
    assert repo.git("branch", "--show-current").stdout.strip() == "main"
    assert repo.git("status", "--porcelain").stdout.strip() == ""
