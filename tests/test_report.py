"""The review report: core.report renders hand-made inputs; commands.report gathers them from a
repository (one end-to-end run with real DVC and git commits)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from iterate.commands import report as report_command
from iterate.core import report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------- hand-made inputs


def stats(candidate, production, delta, low, high):
    return {"candidate": candidate, "candidate_low": None, "candidate_high": None,
            "production": production, "production_low": None, "production_high": None,
            "delta": delta, "delta_low": low, "delta_high": high}


def evaluation(production=True):
    metrics = {
        "roc_auc": stats(0.632830, 0.599387, 0.033442, 0.025110, 0.041775),
        "f1": stats(0.401715, 0.357498, 0.044217, 0.029482, 0.059286),
        "accuracy": stats(0.662405, 0.664651, -0.002246, -0.011062, 0.007433),
        "log_loss": stats(0.574611, 0.609676, -0.035065, -0.041655, -0.028474),
    }
    if not production:
        metrics = {m: stats(s["candidate"], None, None, None, None) for m, s in metrics.items()}
    return {"holdout": {"batch": "2013-01-29_2013-02-04", "rows": 5788, "positive_rate": 0.2574},
            "models": {"candidate": "c" * 64, "production": "p" * 64 if production else None},
            "metrics": metrics}


def rule(metric="roc_auc", scope="overall", improvement=0.033442, ci=(0.02511, 0.041775),
         threshold=-0.01, passed=True):
    return {"rule": "non_inferiority", "metric": metric, "scope": scope,
            "improvement": improvement, "improvement_ci": list(ci), "threshold": threshold,
            "passed": passed, "reason": f"{metric} ({scope}): ..."}


def gate(verdict="promote", rules=None, reasons=None):
    return {"verdict": verdict, "promotable": verdict in ("promote", "no_baseline"),
            "reasons": reasons or ["all rules pass"],
            "rules": [rule()] if rules is None else rules,
            "holdout": {"batch": "2013-01-29_2013-02-04", "rows": 5788,
                        "positive_rate": 0.257429},
            "compatibility": []}


def slices():
    return {"column": "origin", "min_rows": 200, "values": {
        "EWR": {"roc_auc": stats(0.5512, 0.6301, -0.078912, -0.101, -0.0561),
                "f1": stats(0.41, 0.43, -0.02, -0.05, 0.01)},
        "JFK": {"roc_auc": stats(0.64, 0.62, 0.02, 0.01, 0.03)},
        "SMALL": None}}


def drift():
    def column(kind, effect, size, status, unseen=()):
        return {"kind": kind, "status": status, "test": "ks" if kind == "numeric" else "chi2",
                "p_value_corrected": 0.0 if status == "drift" else 0.8, "effect": effect,
                "effect_size": size, "unseen_categories": list(unseen),
                "unseen_share": 0.012 if unseen else 0.0}
    return {"batch": "2013-01-29_2013-02-04", "dataset_drift": False, "share": 0.5,
            "drifted_columns": ["pressure", "carrier"], "n_columns": 4, "n_tested": 4,
            "options": {"psi_threshold": 0.2, "js_threshold": 0.1, "share_threshold": 0.6},
            "columns": {"pressure": column("numeric", "psi", 2.253412, "drift"),
                        "carrier": column("categorical", "jensen_shannon", 0.153, "drift",
                                          ["OO"]),
                        "distance": column("numeric", "psi", 0.000924, "stable"),
                        "visib": column("numeric", "psi", None, "insufficient_data")}}


def monitor():
    return {"batch": "2013-01-29_2013-02-04",
            "performance": {"metric": "roc_auc", "value": 0.599387, "low": 0.582185,
                            "high": 0.61659, "at_promotion": 0.652583, "degraded": True,
                            "version": "1.0.0"},
            "recommendation": "full",
            "reasons": ["roc_auc fell: 0.5994 now vs 0.6526 at promotion",
                        "pressure: psi 2.253 >= 0.5 (severe drift)"]}


def render(**kwargs):
    kwargs.setdefault("gate", gate())
    return report.render(**kwargs)


def section(text, title):
    """The body of the ``## title...`` section."""
    start = text.index(f"\n## {title}")
    end = text.find("\n## ", start + 1)
    return text[start:end if end != -1 else None]


def table_row(text, first_cell):
    return next(line for line in text.splitlines() if line.startswith(f"| {first_cell} |"))


# ---------------------------------------------------------------- report.py


def test_the_verdict_is_the_first_section_with_every_rule_that_decided_it():
    failed = rule("f1", improvement=-0.04, ci=(-0.071234, -0.01), threshold=-0.03, passed=False)
    text = render(gate=gate("reject", [rule(), failed], ["f1 (overall): worse"]),
                  evaluation=evaluation(), slices=slices(), drift=drift(), monitor=monitor())
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0] == "## ❌ Gate: REJECT"
    assert "f1 (overall): worse" in section(text, "❌ Gate")
    row = table_row(text, "❌ FAIL")
    assert "F1" in row and "overall" in row and "-0.0400" in row
    assert "[-0.0712, -0.0100]" in row and "-0.0300" in row
    assert "1 of 2 pass" in text


@pytest.mark.parametrize(("verdict", "heading", "meaning"), [
    ("promote", "✅ Gate: PROMOTE", "may replace"),
    ("reject", "❌ Gate: REJECT", "must not replace"),
    ("no_baseline", "🆕 Gate: NO BASELINE", "no production model yet"),
    ("is_production", "➖ Gate: IS PRODUCTION", "nothing to promote"),
])
def test_each_verdict_is_named_and_explained_in_one_line(verdict, heading, meaning):
    text = render(gate=gate(verdict, rules=[]))
    assert f"## {heading}" in text
    assert meaning in section(text, heading)


def test_a_verdict_that_differs_from_the_committed_one_is_pointed_out():
    text = render(gate=gate("is_production", rules=[]),
                  context={"head": "f6dd165b74f1aaaa", "committed_verdict": "promote"})
    verdict = section(text, "➖ Gate")
    assert "The commit `f6dd165b74f1` says **PROMOTE**" in verdict
    assert "**PROMOTE**" not in render(gate=gate("is_production", rules=[]))


def test_metrics_table_shows_candidate_production_delta_and_ci_rounded_to_four_decimals():
    text = render(evaluation=evaluation())
    assert "| metric | better | candidate | production | Δ | 95% CI of Δ | reading |" in text
    row = table_row(text, "ROC AUC")
    assert "| 0.6328 | 0.5994 | +0.0334 | [+0.0251, +0.0418] | candidate better |" in row
    assert "0.63283" not in text and "0.033442" not in text


def test_metrics_table_reads_losses_as_lower_is_better():
    text = render(evaluation=evaluation())
    row = table_row(text, "log loss")
    assert "| ↓ |" in row and "-0.0351" in row and "candidate better" in row
    assert "no clear difference" in table_row(text, "accuracy")


def test_metrics_table_without_production_leaves_production_and_delta_empty():
    text = section(render(gate=gate("no_baseline", rules=[]), evaluation=evaluation(False)),
                   "Candidate vs production")
    assert "no production model yet" in text
    assert "| ROC AUC | ↑ | 0.6328 | — | — | — |  |" in text


def test_params_diff_shows_changes_and_folds_unchanged_rows_into_details():
    diff = {"params.yaml": {"model.kind": {"old": "hist_gradient_boosting",
                                           "new": "sgd_logistic"},
                            "split.window": {"old": 8, "new": 4, "diff": -4},
                            "model.threshold": {"old": 0.3, "new": 0.3, "diff": 0}}}
    text = section(render(params_diff=diff, context={"base": "main"}), "Params")
    assert "Params vs `main`" in text
    assert "2 changed, 1 unchanged" in text
    assert "| split.window | 8 | 4 | -4 |" in text
    assert "| model.kind | hist_gradient_boosting | sgd_logistic |  |" in text
    folded = text[text.index("<details>"):text.index("</details>")]
    assert "1 unchanged" in folded and "| model.threshold | 0.3 |" in folded
    assert "model.threshold" not in text[:text.index("<details>")]


def test_metrics_diff_rounds_values_and_counts_unchanged_rows_without_listing_them():
    diff = {"metrics/evaluation.json": {
        "metrics.roc_auc.candidate": {"old": 0.652583, "new": 0.63283, "diff": -0.019753},
        "metrics.f1.candidate": {"old": 0.4, "new": 0.4, "diff": 0.0},
        "models.production": {"old": None, "new": "26f0ae738a85b209f9612a795ecbb394bc88c02e"}}}
    text = section(render(metrics_diff=diff, context={"base": "main"}), "Metrics")
    assert "2 changed, 1 unchanged" in text
    assert "| metrics.roc_auc.candidate | 0.6526 | 0.6328 | -0.01975 |" in text
    assert "| models.production | — | `26f0ae738a85…` | added |" in text
    assert "metrics.f1.candidate" not in text


def test_a_long_diff_is_folded_into_details_and_capped_with_the_command_for_the_rest():
    rows = {f"values.v{i:03d}.roc_auc.candidate": {"old": 0.5, "new": 0.6, "diff": 0.1}
            for i in range(report.MAX_ROWS + 7)}
    text = section(render(metrics_diff={"metrics/slices.json": rows},
                          context={"base": "main"}), "Metrics")
    assert text.count("<details>") == 1
    assert f"<summary><code>metrics/slices.json</code>: {len(rows)} changed" in text
    assert text.count("| values.v") == report.MAX_ROWS
    assert "… 7 more: `dvc metrics diff main --targets metrics/slices.json`" in text


def test_only_failed_slices_are_detailed():
    rules = [rule(), rule(scope="origin=EWR", improvement=-0.0789, ci=(-0.101, -0.0561),
                          threshold=-0.05, passed=False),
             rule(scope="origin=JFK", threshold=-0.05)]
    text = section(render(gate=gate("reject", rules), slices=slices()), "Slices")
    assert "1 of 2 slice guards fail" in text
    row = table_row(text, "origin = EWR")
    assert "| 0.5512 | 0.6301 | -0.0789 | [-0.1010, -0.0561] | -0.0500 |" in row
    assert "JFK" not in text
    assert "SMALL" in text and "Too few rows" in text


def test_passing_slice_guards_take_one_line():
    rules = [rule(scope="origin=EWR", threshold=-0.05), rule(scope="origin=JFK", threshold=-0.05)]
    text = section(render(gate=gate("promote", rules), slices=slices()), "Slices")
    assert "All 2 slice guards pass (ROC AUC on origin: EWR, JFK)" in text
    assert "|" not in text


def test_drift_section_lists_drifted_columns_by_effect_size_with_the_recommendation():
    text = section(render(drift=drift(), monitor=monitor()), "Drift")
    assert "**Recommendation: FULL**" in text
    assert "roc_auc fell" in text and "pressure: psi 2.253 >= 0.5 (severe drift)" in text
    assert "ROC AUC 0.5994 [0.5822, 0.6166], 0.6526 at promotion, -0.0532 since: **degraded**" \
        in text
    assert "2 of 4 columns drift" in text
    assert text.index("| pressure |") < text.index("| carrier |"), "largest effect first"
    assert "PSI 2.253 | 0.2 |" in table_row(text, "pressure")
    assert "JS 0.153 | 0.1 |" in table_row(text, "carrier") and "OO" in table_row(text, "carrier")
    assert "Stable: distance." in text and "Insufficient data: visib." in text


def test_drift_section_is_one_line_when_the_drift_stage_wrote_nothing():
    text = section(render(drift=None, monitor=None), "Drift")
    body = [line for line in text.splitlines()[2:] if line.strip()]
    assert len(body) == 1 and "no drift output" in body[0].lower()


def test_drift_section_without_production_says_there_is_no_reference():
    text = section(render(drift={"batch": "b", "columns": {}, "dataset_drift": None},
                          monitor={"batch": "b", "recommendation": "full",
                                   "reasons": ["no production model yet"]}), "Drift")
    assert "**Recommendation: FULL**" in text and "no production model" in text
    assert "|" not in text


def test_every_optional_section_degrades_to_one_line_with_its_reason():
    no_base = "no comparison: `main` is not a revision in this repository"
    text = render(gate=gate("no_baseline", rules=[]), params_diff=no_base, metrics_diff=no_base,
                  landed=no_base, context={"base": "main", "base_error": "`main` is missing"})
    for title in ("Candidate vs production", "Params", "Metrics", "Slices", "Drift",
                  "Data landed", "Plots"):
        body = [line for line in section(text, title).splitlines()[2:] if line.strip()]
        assert len(body) == 1, (title, body)
        assert body[0].startswith("_") and body[0].endswith("._"), (title, body)
    assert "not a revision" in section(text, "Params")
    assert "No comparison with a base: `main` is missing." in text


def test_landed_batches_show_rows_quarantined_rows_and_why():
    landed = {"added": [{"id": "2013-02-05_2013-02-11", "start": "2013-02-05T00:00:00Z",
                         "end": "2013-02-11T23:00:00Z", "rows": 5095, "quarantined": 3,
                         "quarantine": "data/quarantine/2013-02-05_2013-02-11.csv",
                         "reasons": {"temp: above the maximum 140": 2, "late: missing label": 1}}],
              "removed": ["2013-01-01_2013-01-07"]}
    text = section(render(landed=landed, context={"base": "main"}), "Data landed")
    assert "Data landed since `main`" in text
    assert "1 batch, 5,095 rows landed, 3 quarantined" in text
    row = table_row(text, "`2013-02-05_2013-02-11`")
    assert "| 5,095 | 3 |" in row and "temp: above the maximum 140 (2)" in row
    assert "`data/quarantine/2013-02-05_2013-02-11.csv`" in row
    assert "**Removed** since base: `2013-01-01_2013-01-07`" in text


def test_plots_are_linked_by_relative_path_and_a_missing_one_is_said():
    text = section(render(plots=[
        {"title": "Candidate vs production", "path": "plots/evaluation/evaluation.png",
         "caption": "ROC, PR, confusion"},
        {"title": "Drift", "missing": "plots/monitor/drift.png not found"}]), "Plots")
    assert "![Candidate vs production](plots/evaluation/evaluation.png)" in text
    assert "_plots/monitor/drift.png not found_" in text
    assert text.count("![") == 1


def test_numbers_are_rounded_for_people():
    assert report._value(0.123456789) == "0.1235"
    assert report._value(-0.000172) == "-0.000172"
    assert report._value(12345.678) == "12,345.7"
    assert report._value(0.0) == "0" and report._value(7) == "7" and report._value(True) == "true"
    assert report._value(-0.019753, signed=True) == "-0.01975"
    assert report._fixed(0.63283) == "0.6328" and report._signed(0.05) == "+0.0500"
    assert report._ci(-0.011062, 0.007433) == "[-0.0111, +0.0074]"
    assert report._p(1e-9) == "< 0.0001"


def test_text_from_data_cannot_inject_html_or_break_a_table():
    landed = {"added": [{"id": "b", "rows": 1, "quarantined": 1,
                         "reasons": {"dest: not one of <script>x|y</script>": 1}}]}
    text = render(landed=landed)
    assert "<script>" not in text and "&lt;script>x\\|y" in text


# ---------------------------------------------------------------- commands/report.py (no DVC run)


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


@pytest.fixture
def bare_repo(tmp_path, monkeypatch):
    """A folder that looks like an iterate repository, not in git, with no pipeline output."""
    (tmp_path / ".dvc").mkdir()
    (tmp_path / "dvc.yaml").write_text("stages: {}\n")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_missing_gate_verdict_is_a_one_line_error_with_exit_2(bare_repo, capsys):
    assert report_command.main(["--base", "main"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: metrics/gate.json: not found")
    assert not (bare_repo / "report").exists()


def test_without_git_or_drift_output_the_report_is_written_and_says_so(bare_repo):
    write_json(bare_repo / "metrics/gate.json", gate("no_baseline", rules=[]))
    write_json(bare_repo / "metrics/evaluation.json", evaluation(False))
    assert report_command.main(["-o", "out/review.md"]) == 0
    text = (bare_repo / "out/review.md").read_text()
    assert text.index("NO BASELINE") < text.index("## Candidate vs production")
    assert "this is not a git repository" in section(text, "Params").lower()
    assert "no drift output" not in text  # a reason is given instead
    assert "metrics/drift.json not found" in section(text, "Drift")
    assert "plots/evaluation/roc/candidate.json not found" in section(text, "Plots")


def test_plots_are_drawn_beside_the_report_from_the_plot_data_and_stale_ones_removed(bare_repo):
    data = bare_repo / "plots/evaluation"
    grid = [i / 10 for i in range(11)]
    write_json(data / "roc/candidate.json", {"roc": [{"fpr": g, "tpr": g} for g in grid]})
    write_json(data / "precision_recall/candidate.json",
               {"precision_recall": [{"recall": g, "precision": 1 - g / 2} for g in grid]})
    (data / "confusion").mkdir()
    (data / "confusion/candidate.csv").write_text("actual,predicted\n0,0\n0,1\n1,1\n")
    stale = bare_repo / "report/figures/performance.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(PNG_SIGNATURE)
    entries = report_command.draw_plots(Path("report"), Path("params.yaml"))
    drawn = bare_repo / "report/figures/evaluation.png"
    assert drawn.read_bytes()[:8] == PNG_SIGNATURE
    assert not stale.exists(), "a figure whose data is gone is not left behind"
    assert [e.get("path") for e in entries] == ["figures/evaluation.png", None, None, None]
    assert entries[1]["missing"] == "plots/monitor/performance.csv not found: run `dvc repro`"


def test_quarantine_reasons_are_counted_per_reason_most_first(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("source_row,temp,reason\n1,200,temp: above the maximum 140\n"
                    "2,,late: missing label; temp: above the maximum 140\n")
    assert report_command.quarantine_reasons(path) == {"temp: above the maximum 140": 2,
                                               "late: missing label": 1}


# ---------------------------------------------------------------- end to end


@pytest.mark.slow
def test_report_of_an_iteration_against_the_previous_commit(template_repo):
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, "split.window": 2, "evaluate.resamples": 200,
                       "model.params.max_iter": 20})  # small and quick
    repo.git("commit", "-qam", "two warm-up batches")
    repo.iterate("loop", "--iterations", "2")  # two commits; the second lands one batch
    assert len(repo.git("log", "--format=%s").stdout.splitlines()) == 4
    new_batch = repo.git("log", "-1", "--format=%s").stdout.split("(")[1].split(")")[0]

    result = repo.run(sys.executable, "-m", "iterate.commands.cli", "report",
                      "--base", "HEAD~1", "-o", "report/report.md")
    assert "report: report/report.md" in result.stdout
    text = (repo.path / "report/report.md").read_text()
    verdict = json.loads((repo.path / "metrics/gate.json").read_text())["verdict"]

    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[0].endswith(report.VERDICTS[verdict][1]), "the verdict comes first"
    metrics = section(text, "Candidate vs production")
    assert re.search(r"\| ROC AUC \| ↑ \| 0\.\d{4} \| 0\.\d{4} \| [+-]0\.\d{4} \| "
                     r"\[[+-]0\.\d{4}, [+-]0\.\d{4}\] \|", metrics), metrics
    assert "nothing changed" in section(text, "Params vs `HEAD~1`")
    assert re.search(r"metrics/numbers/evaluate\.json(`|</code>): \d+ changed",
                     section(text, "Metrics vs `HEAD~1`"))
    landed = section(text, "Data landed since `HEAD~1`")
    assert "1 batch," in landed and f"`{new_batch}`" in landed

    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert {Path(link).name for link in links} == {"evaluation.png", "performance.png",
                                                   "drift.png", "importance.png"}
    relies = section(text, "What the model relies on, and whom it serves worse")
    assert re.search(r"\| sched_dep_time \| -?0\.\d{4} \[", relies), relies
    assert "| origin | ROC AUC |" in relies
    from PIL import Image

    for link in links:
        png = repo.path / "report" / link
        assert png.read_bytes()[:8] == PNG_SIGNATURE, link
        with Image.open(png) as image:
            image.verify()
            assert image.size[0] > 300 and image.size[1] > 200, link
    assert repo.git("status", "--porcelain").stdout.strip() == "", "report/ is git-ignored"
    assert len(repo.git("log", "--format=%s").stdout.splitlines()) == 4, "nothing committed"


def test_header_only_histories_draw_no_figure_and_say_why(tmp_path, monkeypatch):
    """Before the first baseline the drift step writes header-only histories; the loop's and
    the report's figures then skip them instead of failing."""
    from iterate.repo import figures
    from iterate.stages.drift import HISTORY_HEADERS, start_history

    monkeypatch.chdir(tmp_path)
    start_history(Path("plots/monitor"))
    (tmp_path / "report/figures").mkdir(parents=True)
    (tmp_path / "report/figures/performance.png").write_bytes(PNG_SIGNATURE)  # a stale one

    drawn = figures.draw(Path("report/figures"), Path(__file__).parents[1] / "params.yaml")

    assert set(HISTORY_HEADERS) == {"performance.csv", "drift.csv"}
    assert "holds no batch yet" in drawn["performance.png"]
    assert "holds no batch yet" in drawn["drift.png"]
    assert not list((tmp_path / "report/figures").glob("*.png")), "no figure, stale one gone"
