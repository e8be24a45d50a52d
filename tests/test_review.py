"""Reviewing an iteration with DVC's own commands: after the loop's commits, `dvc metrics diff`
prints a short table of numbers and `dvc plots diff` draws each plot once, with no warning."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow

MAX_LINES = 120  # the metrics table: every key number, not every detail of the records
MAX_WIDTH = 100


def leaves(node, path=""):
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, f"{path}.{key}" if path else key)
    else:
        yield path, node


def test_metrics_and_plots_diff_of_an_iteration_are_short_numbers_and_warn_of_nothing(
        template_repo, tmp_path):
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, "split.window": 2, "evaluate.resamples": 200,
                       "model.params.max_iter": 20})  # small and quick
    repo.git("commit", "-qam", "two warm-up batches")
    repo.iterate("loop", "--iterations", "2")  # two commits; the second promotes or rejects

    table = repo.dvc("metrics", "diff", "HEAD~1")
    assert table.stderr == ""
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["Path", "Metric", "HEAD~1", "workspace", "Change"]
    assert 10 < len(lines) <= MAX_LINES, table.stdout
    assert max(map(len, lines)) <= MAX_WIDTH, table.stdout

    shown = json.loads(repo.dvc("metrics", "show", "--json").stdout)
    for path, found in shown[""]["data"].items():
        values = dict(leaves(found["data"]))
        assert values, path
        words = {k: v for k, v in values.items()
                 if isinstance(v, bool) or not isinstance(v, int | float)}
        assert not words, f"{path} holds more than numbers: {words}"
    assert "metrics/gate.json" not in json.dumps(shown), "the verdict record is no DVC metric"

    for revs in ([], ["HEAD"]):
        plots = repo.dvc("plots", "diff", *revs, "-o", str(tmp_path / f"html{len(revs)}"))
        assert plots.stderr == "" and "WARNING" not in plots.stdout, plots.stdout + plots.stderr
    drawn = json.loads(repo.dvc("plots", "diff", "--json").stdout)
    assert "errors" not in drawn
    names = list(drawn["data"])
    assert {"ROC", "Precision-Recall", "Confusion-Matrix", "Performance-over-time"} <= set(names)
    files = [n for n in names if "/" in n]
    assert not [f for f in files if f.endswith((".json", ".csv"))], "drawn again by file"

    # the commands that read the records still work
    assert repo.iterate("gate").stdout.strip()
    repo.iterate("report", "--base", "HEAD~1", "-o", "report/report.md")
