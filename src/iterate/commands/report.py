"""``iterate report``: the review report of the current workspace against a base revision.

The I/O side of :mod:`iterate.core.report`: it reads the pipeline's outputs from the working tree,
asks DVC for the params and metrics diff against the base (``dvc params diff``,
``dvc metrics diff``), lists the batches that landed since the base (``data/raw`` now against
the file listing of base's ``data/raw.dvc``), draws the PNG plots from the stages' plot data
next to the report so its relative links resolve wherever the folder goes, and writes the
markdown file.

Only ``metrics/gate.json`` is required; every other input may be missing and its section then
says so in one line. Git and DVC are only read, never changed.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from iterate import params as params_module
from iterate.commands.deploy import warn_if_pending
from iterate.commands.helptext import plain
from iterate.errors import IterateError, reported
from iterate.repo.layout import (
    DRIFT,
    EVALUATION,
    FIGURES,
    GATE,
    MONITOR,
    PREDICTION_DRIFT,
    QUARANTINE,
    RAW,
    SLICES,
)

DEFAULT_BASE = "main"
DEFAULT_OUTPUT = Path("report/report.md")
RAW_DVC = Path("data/raw.dvc")
# What the pipeline's state is made of: uncommitted changes here make the report differ from
# the commit's (e.g. `dvc repro` in CI re-ran a stage the branch did not commit).
STATE = ["dvc.yaml", "dvc.lock", "params.yaml", "data", "models", "metrics", "plots"]
PLOTS = [  # the figures of iterate.repo.figures, as the report shows them
    ("evaluation.png", "Candidate vs production on the same holdout",
     "ROC and precision-recall curves of both models, and each model's confusion matrix at the "
     "decision threshold (`model.threshold`)."),
    ("performance.png", "Production's performance on each new batch",
     "The production model's metric (`monitor.metric`) on each batch as it arrived, before "
     "training on it, with its 95% CI, the value at promotion and the degradation alarms."),
    ("drift.png", "Drift of each column, batch by batch",
     "Effect size of each column's drift against the training reference (PSI for numbers, "
     "Jensen-Shannon distance for categories), with the thresholds; circled points drift."),
    ("importance.png", "What each model relies on",
     "Permutation importance of each feature for the candidate and production, with 95% CIs "
     "(`explain.metric` lost when the feature is shuffled; docs/explain.md)."),
]


# ---------------------------------------------------------------- command line


def add_parsers(sub: Any) -> argparse.ArgumentParser:
    """Register ``report`` on the ``iterate`` subcommands (``sub``: the subparsers action)."""
    parser = sub.add_parser("report", help="write the review report (markdown + PNGs) of the "
                                           "workspace against a base revision",
                            description=__doc__,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_options(parser)
    parser.set_defaults(func=cmd_report)
    return parser


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--base", default=DEFAULT_BASE, metavar="REV",
                        help=f"git revision to compare with (default: {DEFAULT_BASE}; "
                             "origin/REV is tried when REV is not a local revision)")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT, metavar="PATH",
                        help=f"markdown file to write (default: {DEFAULT_OUTPUT}); the plots "
                             f"are drawn beside it, under {FIGURES.name}/")


def main(argv: list[str] | None = None) -> int:
    """``python -m iterate.commands.report [--base REV] [-o PATH]``, for use without ``cli.py``."""
    parser = argparse.ArgumentParser(prog="iterate report", description=plain(__doc__),
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _add_options(parser)
    args = parser.parse_args(argv)
    return reported(lambda: cmd_report(args))


def cmd_report(args: argparse.Namespace) -> int:
    from iterate.core import report
    from iterate.repo import atomic, vcs
    from iterate.repo.jsonfile import read_json

    vcs.require_dvc_repo()
    warn_if_pending()
    gate = read_json(GATE, "run `dvc repro` first (the evaluate stage writes it)")
    if not isinstance(gate, dict) or "verdict" not in gate:
        raise IterateError(f"{GATE}: no verdict in it; run `dvc repro` again")
    output: Path = args.output
    if output.exists() and output.is_dir():
        raise IterateError(f"{output}: is a folder; give the path of the markdown file to write")
    atomic.user_output(output, "report")

    context, base = resolve_base(args.base)
    committed = committed_verdict(context.get("head"))
    if committed and committed != gate["verdict"]:
        context["committed_verdict"] = committed
    plots = draw_plots(output.parent, getattr(args, "params", params_module.DEFAULT_PATH))
    text = report.render(
        gate=gate,
        evaluation=optional_json(EVALUATION, "the evaluate stage has not run"),
        slices=optional_json(SLICES, "the evaluate stage wrote no slices"),
        params_diff=dvc_diff("params", base) if base else context.get("base_error"),
        metrics_diff=dvc_diff("metrics", base) if base else context.get("base_error"),
        drift=optional_json(DRIFT, "the train stage has not run (or the pipeline has none)"),
        monitor=optional_json(MONITOR, "the train stage has not run (or the pipeline has none)"),
        landed=landed_since(base) if base else context.get("base_error"),
        plots=plots,
        context=context,
        realised=realised_performance(),
        estimated=optional_json(PREDICTION_DRIFT, "`iterate monitor` has not run"),
    )
    atomic.write_text(output, text)
    output.chmod(0o644)  # atomic writes are private (mkstemp); a report is for sharing
    shown = sum(1 for p in plots if p.get("path"))
    print(f"report: {output} (gate: {gate['verdict']}; {shown} plot{'s' * (shown != 1)})")
    return 0


# ---------------------------------------------------------------- git and DVC (read only)


def _git(*args: str) -> subprocess.CompletedProcess:
    # GIT_OPTIONAL_LOCKS=0: `git status` must not even refresh the index.
    return subprocess.run(["git", *args], capture_output=True, text=True, check=False,
                          env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"})


def resolve_base(base: str) -> tuple[dict[str, Any], str | None]:
    """The report's context and the commit to diff against (None when there is none).

    The base is the merge base of ``base`` and HEAD, as in a pull request's diff: commits that
    landed on ``base`` after the branch started are not this branch's changes."""
    from iterate.repo import vcs

    context: dict[str, Any] = {"base": base}
    if not vcs.in_git_repo():
        context["base_error"] = "this is not a git repository"
        return context, None
    head = _git("rev-parse", "--verify", "--quiet", "HEAD^{commit}").stdout.strip() or None
    context["head"] = head
    dirty = _git("status", "--porcelain", "--untracked-files=no", "--", *STATE).stdout
    context["dirty"] = [line[3:] for line in dirty.splitlines() if line.strip()]
    commit = None
    for name in (base, f"origin/{base}") if not base.startswith("-") else ():
        commit = _git("rev-parse", "--verify", "--quiet", f"{name}^{{commit}}").stdout.strip()
        if commit:
            if name != base:
                context["base"] = name
            break
    if not commit:
        context["base_error"] = (f"`{base}` is not a revision in this repository (in CI, "
                                 "check out the whole history: fetch-depth: 0)")
        return context, None
    context["base_commit"] = commit
    if head:
        merge_base = _git("merge-base", commit, head).stdout.strip()
        if merge_base and merge_base != commit:
            context["base_commit"] = merge_base
            context["base_note"] = f"its merge base with HEAD; `{context['base']}` is at " \
                                   f"`{commit[:12]}`"
            commit = merge_base
    return context, commit


def committed_verdict(head: str | None) -> str | None:
    """The verdict in HEAD's metrics/gate.json (it differs from the workspace's when e.g.
    `dvc repro` re-ran the gate after a promotion that was committed without a re-run)."""
    if not head:
        return None
    shown = _git("show", f"{head}:{GATE.as_posix()}")
    try:
        return json.loads(shown.stdout).get("verdict") if shown.returncode == 0 else None
    except (json.JSONDecodeError, AttributeError):
        return None


def dvc_diff(kind: str, base: str) -> dict[str, Any] | str:
    """``dvc params diff`` or ``dvc metrics diff`` of ``base`` against the workspace, with
    unchanged rows (``--all``), as parsed JSON; or why it failed."""
    from iterate.repo import vcs

    try:
        out = vcs.dvc(kind, "diff", base, "--all", "--json", capture=True)
    except IterateError as exc:
        return str(exc)
    try:
        return json.loads(out or "{}")
    except json.JSONDecodeError:
        return f"`dvc {kind} diff` printed something that is not JSON"


def realised_performance() -> Any:
    """The realised performance ``iterate monitor`` last wrote; None (no section) when it never
    ran: a repository that serves no model has nothing to say here."""
    if not PREDICTION_DRIFT.is_file():
        return None
    found = optional_json(PREDICTION_DRIFT, "`iterate monitor` writes it")
    if isinstance(found, dict):
        return found.get("realised", f"{PREDICTION_DRIFT} holds no realised performance: run "
                         "`iterate monitor` again")
    return found


def optional_json(path: Path, why_missing: str) -> Any:
    """The file's JSON, or a one-line reason it is not there."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{path} not found: {why_missing}"
    except (OSError, json.JSONDecodeError) as exc:
        return f"{path} cannot be read ({exc})"


# ---------------------------------------------------------------- landed batches


def landed_since(base: str) -> dict[str, Any] | str:
    """Batches in ``data/raw`` now that were not in base's ``data/raw.dvc``, with their rows,
    quarantined rows and the reasons; and base's batches that are gone.

    Base's batch ids come from ``dvc ls --rev BASE`` (the .dir listing of base's data/raw.dvc,
    from the cache or the remote); when that is unavailable, from base's holdout batch (the
    newest batch at base) in its metrics/evaluation.json."""
    from iterate.repo import store

    if not RAW.is_dir() or not any(RAW.glob("*.parquet")):
        if RAW_DVC.is_file():
            return f"{RAW} is not in the workspace: run `dvc pull {RAW}` to list its batches"
        current = []
    else:
        try:
            current = store.list_batches(RAW)
        except IterateError as exc:
            return str(exc)
    note = None
    base_ids = _base_batch_ids(base)
    if isinstance(base_ids, str):
        holdout = _base_holdout(base)
        ids = [b.id for b in current]
        if holdout not in ids:
            return f"cannot tell which batches landed since base: {base_ids}"
        note = (f"base's data/raw listing is unavailable ({base_ids}); listed: the batches "
                f"after base's holdout batch {holdout}")
        base_ids = set(ids[: ids.index(holdout) + 1])
    now = {b.id for b in current}
    added = [_batch_record(b) for b in current if b.id not in base_ids]
    return {"added": added, "removed": sorted(base_ids - now), "note": note}


def _base_batch_ids(base: str) -> set[str] | str:
    from iterate.repo import vcs

    if _git("cat-file", "-e", f"{base}:{RAW_DVC.as_posix()}").returncode != 0:
        return set()  # nothing had landed at base
    try:
        out = vcs.dvc("ls", "--rev", base, "--json", ".", RAW.as_posix(), capture=True)
        entries = json.loads(out)
    except (IterateError, json.JSONDecodeError) as exc:
        return str(exc)
    return {Path(e["path"]).name.removesuffix(".parquet") for e in entries
            if str(e.get("path", "")).endswith(".parquet")}


def _base_holdout(base: str) -> str | None:
    shown = _git("show", f"{base}:{EVALUATION.as_posix()}")
    try:
        return json.loads(shown.stdout)["holdout"]["batch"] if shown.returncode == 0 else None
    except (json.JSONDecodeError, KeyError, TypeError):
        return None


def _batch_record(batch: Any) -> dict[str, Any]:
    record = {"id": batch.id, "start": batch.start, "end": batch.end, "rows": batch.rows,
              "quarantined": batch.quarantined}
    path = QUARANTINE / f"{batch.id}.csv"
    if path.is_file():
        record["quarantine"] = path.as_posix()
        record["reasons"] = quarantine_reasons(path)
    return record


def quarantine_reasons(path: Path) -> dict[str, int]:
    """How many quarantined rows give each reason (a row may give several), most first."""
    counts: Counter[str] = Counter()
    try:
        with path.open(newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                for reason in (row.get("reason") or "").split("; "):
                    if reason:
                        counts[reason] += 1
    except (OSError, UnicodeDecodeError, csv.Error):
        return {}
    return dict(counts.most_common())


# ---------------------------------------------------------------- plots


def draw_plots(folder: Path, params_file: Path) -> list[dict[str, str]]:
    """Draw each PNG into ``folder``/figures/ from the stages' plot data; return the report's plot
    entries (paths relative to ``folder``). A figure whose data is missing is said, and its
    copy left by an earlier report removed, so the report never shows a stale figure."""
    from iterate.repo import figures

    drawn = figures.draw(folder / FIGURES.name, params_file)
    entries = []
    for name, title, caption in PLOTS:
        if isinstance(drawn[name], str):
            entries.append({"title": title, "missing": drawn[name]})
        else:
            entries.append({"title": title, "path": f"{FIGURES.name}/{name}", "caption": caption})
    return entries


if __name__ == "__main__":
    sys.exit(main())
