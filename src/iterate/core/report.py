"""The review report: one markdown page a reviewer reads in a pull request, offline.

Pure: every function takes plain dicts and lists (the JSON the pipeline writes, the JSON of
``dvc params diff`` / ``dvc metrics diff``, batch records) and returns markdown text. Gathering
the inputs and writing the file is :mod:`iterate.commands.report`'s job.

An optional input is either its data, ``None`` (absent, for the default reason) or a ``str``
saying why it is absent; each section then says so in one line instead of failing.
"""

from __future__ import annotations

import json
from typing import Any

from iterate.core import explain
from iterate.core.metrics import HIGHER_IS_BETTER, METRICS

NAMES = {"accuracy": "accuracy", "precision": "precision", "recall": "recall", "f1": "F1",
         "roc_auc": "ROC AUC", "log_loss": "log loss", "brier": "Brier score"}
VERDICTS = {
    "promote": ("✅", "PROMOTE", "the candidate may replace the production model"),
    "reject": ("❌", "REJECT", "the candidate must not replace the production model"),
    "no_baseline": ("🆕", "NO BASELINE",
                    "there is no production model yet: the candidate is promoted without a "
                    "comparison"),
    "is_production": ("➖", "IS PRODUCTION",
                      "the candidate is the production model itself: nothing to promote"),
    "pending": ("⏳", "PENDING", "one holdout cannot decide: the candidate stays as the challenger "
                "and is judged again on the next batches, the evidence pooled"),
    "skip": ("⏭️", "SKIP", "the holdout holds one class only: nothing is judged on it, and the "
             "batch trains the next candidate"),
}
ADVICE = {"keep": "keep the production model as it is",
          "incremental": "update the production model incrementally on the new data",
          "full": "refit the model in full on the training window"}
INLINE_ROWS = 15  # a diff file with more changed rows than this is folded into <details>
MAX_ROWS = 60  # rows shown per diff file; the rest are counted (a PR comment holds 65,536
# characters)
MAX_REASONS = 10

HEX = frozenset("0123456789abcdef")

Optional = dict[str, Any] | str | None


def render(*, gate: dict[str, Any], evaluation: Optional = None, slices: Optional = None,
           params_diff: Optional = None, metrics_diff: Optional = None, drift: Optional = None,
           monitor: Optional = None, landed: Optional = None,
           plots: list[dict[str, str]] | str | None = None,
           context: dict[str, Any] | None = None, realised: Optional = None,
           estimated: Optional = None) -> str:
    """The whole report, sections in the order a reviewer needs them: the verdict, the
    metrics, what changed since base, failed slices, drift, new data, plots.

    ``context`` (all optional): ``head`` (commit), ``dirty`` (changed paths), ``base`` (the
    revision asked for), ``base_commit``, ``base_note`` (e.g. "merge base of main and HEAD").
    ``plots``: ``{"title", "path", "caption"}`` each, paths relative to the report's folder.
    ``realised``: the realised performance ``iterate monitor`` wrote (no section when None).
    ``estimated``: what ``iterate monitor`` wrote (its ``estimated`` key is shown).
    """
    context = context or {}
    base = context.get("base")
    parts = [
        *header(gate, context),
        *verdict_section(gate, context.get("committed_verdict"), context.get("head")),
        *metrics_section(evaluation),
        *explain_section(evaluation),
        *diff_section("Params", "params", params_diff, base, unchanged="details"),
        *diff_section("Metrics", "metrics", metrics_diff, base, unchanged="count"),
        *slices_section(slices, gate),
        *drift_section(drift, monitor),
        *realised_section(realised),
        *estimated_section(estimated),
        *landed_section(landed, base),
        *plots_section(plots),
    ]
    return "\n".join(parts).rstrip() + "\n"


# ---------------------------------------------------------------- header and verdict


def header(gate: dict[str, Any], context: dict[str, Any]) -> list[str]:
    holdout = gate.get("holdout") or {}
    title = "# Model review" + (f": holdout batch {holdout['batch']}" if holdout.get("batch")
                                else "")
    where = []
    if context.get("head"):
        dirty = context.get("dirty") or []
        where.append(f"workspace at `{context['head'][:12]}`"
                     + (f" with {len(dirty)} uncommitted change{_s(len(dirty))} "
                        f"({_list(dirty, 5)})" if dirty else ""))
    if context.get("base_commit"):
        note = f", {context['base_note']}" if context.get("base_note") else ""
        where.append(f"compared with `{context['base']}` (`{context['base_commit'][:12]}`{note})")
    elif context.get("base_error"):
        where.append(f"no comparison with a base: {context['base_error']}")
    lines = [title, ""]
    if where:
        lines += [_cap(" · ".join(where)) + ".", ""]
    return lines


def verdict_section(gate: dict[str, Any], committed: str | None = None,
                    head: str | None = None) -> list[str]:
    """The verdict first, then every rule that decided it. ``committed``: the verdict of the
    commit's own metrics/gate.json, when the workspace's differs."""
    verdict = gate.get("verdict", "?")
    icon, label, meaning = VERDICTS.get(verdict, ("❔", verdict.upper(), "unknown verdict"))
    lines = [f"## {icon} Gate: {label}", "", f"**{label}**: {meaning}."]
    if committed:
        was = VERDICTS.get(committed, ("", committed.upper(), ""))[1]
        lines += ["", f"_The commit{f' `{head[:12]}`' if head else ''} says **{was}** in its "
                      "metrics/gate.json; the workspace's differs (the pipeline re-ran here, "
                      "e.g. `dvc repro` after a promotion committed without a re-run). This "
                      "report shows the workspace._"]
    holdout = gate.get("holdout") or {}
    if holdout:
        lines += ["", f"Judged on holdout batch `{holdout.get('batch')}` "
                      f"({_int(holdout.get('rows'))} rows, positive rate "
                      f"{_pct(holdout.get('positive_rate'))}), which neither model trained on."]
    reasons = gate.get("reasons") or []
    if reasons:
        lines += ["", "Reasons:", *[f"- {_text(r)}" for r in reasons]]
    changes = gate.get("compatibility") or []
    if changes:
        lines += ["", "Compatibility with the production model:",
                  *[f"- **{c.get('kind')}**: "
                    + _text(f"{c['column']}: {c['what']}" if c.get("column") else c.get("what"))
                    for c in changes]]
    rules = gate.get("rules") or []
    if not rules:
        lines += ["", "_No rule was judged for this verdict._", ""]
        return lines
    overall = [r for r in rules if r.get("scope") == "overall"]
    scoped = [r for r in rules if r.get("scope") != "overall"]
    shown = overall + [r for r in scoped if not r.get("passed")]
    folded = [r for r in scoped if r.get("passed")]
    failed = sum(not r.get("passed") for r in rules)
    lines += ["", f"Rules ({len(rules) - failed} of {len(rules)} pass; each is judged on the "
                  "pessimistic end of the 95% CI of the improvement, i.e. Δ for metrics where "
                  "higher is better and −Δ for losses):", "", *_rules_table(shown)]
    if folded:
        lines += ["", f"<details><summary>{len(folded)} passing slice rule{_s(len(folded))}"
                      "</summary>", "", *_rules_table(folded), "", "</details>"]
    lines.append("")
    return lines


def _rules_table(rules: list[dict[str, Any]]) -> list[str]:
    rows = ["| result | rule | metric | scope | improvement | 95% CI | passes when CI low ≥ |",
            "|---|---|---|---|--:|--:|--:|"]
    for r in rules:
        ci = r.get("improvement_ci") or [None, None]
        rows.append(f"| {'✅ pass' if r.get('passed') else '❌ FAIL'} | "
                    f"{str(r.get('rule', '')).replace('_', ' ')} | {_name(r.get('metric'))} | "
                    f"{_cell(r.get('scope'))} | {_signed(r.get('improvement'))} | "
                    f"{_ci(ci[0], ci[1])} | {_signed(r.get('threshold'))} |")
    return rows


# ---------------------------------------------------------------- metrics


def metrics_section(evaluation: Optional) -> list[str]:
    lines = ["## Candidate vs production", ""]
    if not isinstance(evaluation, dict):
        return lines + [_missing(evaluation, "metrics/evaluation.json not found: run "
                                             "`dvc repro`"), ""]
    holdout = evaluation.get("holdout") or {}
    no_production = (evaluation.get("models") or {}).get("production") is None
    lines += [f"On holdout batch `{holdout.get('batch')}` ({_int(holdout.get('rows'))} rows); "
              "Δ = candidate − production, with the paired 95% CI of Δ."
              + (" There is no production model yet, so there is nothing to compare with."
                 if no_production else ""), "",
              *metrics_table(evaluation.get("metrics") or {}), ""]
    return lines


def metrics_table(metrics: dict[str, Any]) -> list[str]:
    """Candidate, production, Δ and its CI per metric, and what the CI says."""
    rows = ["| metric | better | candidate | production | Δ | 95% CI of Δ | reading |",
            "|---|:-:|--:|--:|--:|--:|---|"]
    names = [m for m in METRICS if m in metrics] + [m for m in metrics if m not in METRICS]
    for m in names:
        s = metrics[m] or {}
        rows.append(f"| {_name(m)} | {_arrow(m)} | {_fixed(s.get('candidate'))} | "
                    f"{_fixed(s.get('production'))} | {_signed(s.get('delta'))} | "
                    f"{_ci(s.get('delta_low'), s.get('delta_high'))} | "
                    f"{_reading(m, s.get('delta_low'), s.get('delta_high'))} |")
    return rows


def _reading(metric: str, low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return ""
    if low == high == 0:
        return "same predictions"
    if low <= 0 <= high:
        return "no clear difference"
    higher = HIGHER_IS_BETTER.get(metric, True)
    return "candidate better" if (low > 0) == higher else "**candidate worse**"


def _arrow(metric: str) -> str:
    if metric not in HIGHER_IS_BETTER:
        return ""
    return "↑" if HIGHER_IS_BETTER[metric] else "↓"


def explain_section(evaluation: Optional) -> list[str]:
    """What the candidate relies on against production (permutation importance) and the gaps
    between groups, each with its CI and reading (docs/explain.md)."""
    lines = ["## What the model relies on, and whom it serves worse", ""]
    summary = explain.summary(evaluation) if isinstance(evaluation, dict) else None
    if not summary:
        return lines + ["_No importance or gaps in metrics/evaluation.json: run `dvc repro`._",
                        ""]
    importance = summary.get("importance")
    if importance:
        moved = importance["moved"]
        lines += [f"Permutation importance on {_int(importance['rows'])} holdout rows: the "
                  f"{_name(importance['metric'])} lost when a feature is shuffled (the same "
                  "shuffles for both models, so Δ is paired). "
                  + (f"**Moved beyond its CI:** {_list(moved, 10)}." if moved else
                     "No feature moved beyond its CI."), "",
                  *explain.importance_table(summary), ""]
    gaps = explain.gaps_table(summary)
    if gaps:
        widened = summary["gaps"]["widened"]
        lines += ["Gaps between groups: the largest difference of each metric between two "
                  "groups, and how much the candidate widens it. "
                  + (f"**Widened:** {_list(widened, 10)}." if widened else
                     "No gap widened beyond its CI."), "", *gaps, ""]
    return lines


# ---------------------------------------------------------------- params and metrics diff


def diff_section(title: str, kind: str, diff: Optional, base: str | None,
                 unchanged: str = "count") -> list[str]:
    """``dvc params diff --all --json`` or ``dvc metrics diff --all --json``: changed rows per
    file (a long list folded into <details>), unchanged rows folded (``"details"``) or counted
    (``"count"``)."""
    lines = [f"## {title} vs {f'`{base}`' if base else 'base'}", ""]
    if not isinstance(diff, dict):
        return lines + [_missing(diff, f"no {kind} diff: there is no base revision"), ""]
    files = {f: rows for f, rows in diff.items() if isinstance(rows, dict)}
    if not files:
        return lines + [f"No {kind} in either revision.", ""]
    command = f"dvc {kind} diff {base or 'BASE'}"
    for name in sorted(files):
        rows = files[name]
        changed = [(k, v) for k, v in sorted(rows.items()) if _changed(v)]
        same = [(k, v) for k, v in sorted(rows.items()) if not _changed(v)]
        counts = (f"{len(changed)} changed, {len(same)} unchanged" if changed
                  else f"nothing changed ({len(same)} unchanged)")
        if changed:
            table = _diff_table(changed, f"{command} --targets {name}")
            if len(changed) <= INLINE_ROWS:
                lines += [f"`{name}`: {counts}", "", *table, ""]
            else:  # markdown is not rendered inside <summary>
                lines += [f"<details><summary><code>{_html(name)}</code>: {counts}</summary>",
                          "", *table, "", "</details>", ""]
        else:
            lines += [f"`{name}`: {counts}", ""]
        if same and unchanged == "details":
            body = ["| key | value |", "|---|---|"]
            body += [f"| {_cell(k)} | {_value(v.get('new', v.get('old')))} |"
                     for k, v in same[:MAX_ROWS]]
            if len(same) > MAX_ROWS:
                body.append(f"| … {len(same) - MAX_ROWS} more | |")
            lines += [f"<details><summary>{len(same)} unchanged in <code>{_html(name)}</code>"
                      "</summary>", "",
                      *body, "", "</details>", ""]
    return lines


def _changed(row: Any) -> bool:
    if not isinstance(row, dict):
        return False
    return row.get("old") != row.get("new")


def _diff_table(rows: list[tuple[str, Any]], command: str) -> list[str]:
    out = ["| key | base | now | change |", "|---|--:|--:|--:|"]
    for key, row in rows[:MAX_ROWS]:
        old, new = row.get("old"), row.get("new")
        if old is None:
            change = "added"
        elif new is None:
            change = "removed"
        elif _is_number(row.get("diff")):
            change = _value(row["diff"], signed=True)
        elif _is_number(old) and _is_number(new):
            change = _value(new - old, signed=True)
        else:
            change = ""
        out.append(f"| {_cell(key)} | {_value(old)} | {_value(new)} | {change} |")
    if len(rows) > MAX_ROWS:
        out.append(f"| … {len(rows) - MAX_ROWS} more: `{command}` | | | |")
    return out


# ---------------------------------------------------------------- slices


def slices_section(slices: Optional, gate: dict[str, Any]) -> list[str]:
    """Only the slices whose guard failed, in full; the rest in one line."""
    lines = ["## Slices", ""]
    rules = [r for r in gate.get("rules") or [] if "=" in str(r.get("scope"))]  # not gap rules
    failed = [r for r in rules if not r.get("passed")]
    values = slices.get("values") or {} if isinstance(slices, dict) else {}
    column = slices.get("column") if isinstance(slices, dict) else None
    small = sorted(v for v, m in values.items() if m is None)
    small_line = ([f"Too few rows to judge (< {slices.get('min_rows')}): {column} "
                   f"{_list(small, 10)}."] if small else [])
    if not isinstance(slices, dict):
        lines.append(_missing(slices, "metrics/slices.json not found (evaluate.slice_column "
                                      "may be null)"))
        if not failed:
            return lines + [""]
    elif not column:
        return lines + ["No slice column (`evaluate.slice_column` is null).", ""]
    if not rules:
        return lines + ["No slice guard was judged for this verdict.", *small_line, ""]
    if not failed:
        scopes = [r.get("scope", "").partition("=")[2] for r in rules]
        lines.append(f"All {len(rules)} slice guards pass ({_name(rules[0].get('metric'))} on "
                     f"{column}: {_list(scopes, 10)}).")
        return lines + ([""] + small_line if small_line else []) + [""]
    lines += [f"{len(failed)} of {len(rules)} slice guards fail:", "",
              "| slice | metric | candidate | production | Δ | 95% CI of Δ | "
              "passes when improvement CI low ≥ |",
              "|---|---|--:|--:|--:|--:|--:|"]
    for r in failed:
        col, _, value = str(r.get("scope", "")).partition("=")
        s = (values.get(value) or {}).get(r.get("metric")) or {}
        lines.append(f"| {_cell(col)} = {_cell(value)} | {_name(r.get('metric'))} | "
                     f"{_fixed(s.get('candidate'))} | {_fixed(s.get('production'))} | "
                     f"{_signed(s.get('delta'))} | {_ci(s.get('delta_low'), s.get('delta_high'))}"
                     f" | {_signed(r.get('threshold'))} |")
    for r in failed:
        value = str(r.get("scope", "")).partition("=")[2]
        if values.get(value):
            lines += ["", f"<details><summary>every metric of {_html(column)} = "
                          f"{_html(value)}</summary>", "", *metrics_table(values[value]), "",
                      "</details>"]
    if small_line:
        lines += ["", *small_line]
    return lines + [""]


# ---------------------------------------------------------------- drift and monitoring


def drift_section(drift: Optional, monitor: Optional) -> list[str]:
    lines = ["## Drift and monitoring", ""]
    if not isinstance(drift, dict) and not isinstance(monitor, dict):
        return lines + [_missing(drift if isinstance(drift, str) else monitor,
                                 "no drift output (metrics/drift.json, "
                                 "metrics/monitor.json): nothing to report"), ""]
    if isinstance(monitor, dict):
        advice = monitor.get("recommendation", "?")
        lines.append(f"**Recommendation: {str(advice).upper()}**"
                     + (f": {ADVICE[advice]}" if advice in ADVICE else "")
                     + (f" (for batch `{monitor['batch']}`)" if monitor.get("batch") else "")
                     + ".")
        perf = monitor.get("performance")
        if perf:
            at = perf.get("at_promotion")
            change = (f", {_signed(perf['value'] - at)} since"
                      if _is_number(at) and _is_number(perf.get("value")) else "")
            lines += ["", f"Production v{perf.get('version')} on this batch before training on "
                          f"it: {_name(perf.get('metric'))} {_fixed(perf.get('value'))} "
                          f"{_ci(perf.get('low'), perf.get('high'), signed=False)}, "
                          f"{_fixed(at)} at promotion{change}"
                          + (": **degraded**." if perf.get("degraded") else ": holds.")]
        reasons = monitor.get("reasons") or []
        if reasons:
            lines += ["", "Why:", *[f"- {_text(r)}" for r in reasons[:MAX_REASONS]]]
            if len(reasons) > MAX_REASONS:
                lines.append(f"- … {len(reasons) - MAX_REASONS} more in metrics/monitor.json")
        lines.append("")
    else:
        lines += [_missing(monitor, "metrics/monitor.json not found"), ""]
    if isinstance(drift, dict):
        lines += _drift_columns(drift)
    else:
        lines += [_missing(drift, "metrics/drift.json not found"), ""]
    return lines


REALISED = ("roc_auc", "f1", "log_loss")  # the realised metrics the tables show


def realised_rows(realised: dict[str, Any]) -> list[list[Any]]:
    """Rows of the realised performance (``iterate monitor``'s ``realised``): version,
    period, rows and each of :data:`REALISED` as ``value [low, high]``."""
    def cell(iv: dict[str, Any]) -> str:
        if not _is_number(iv.get("value")):
            return "-"
        return f"{iv['value']:.3f}" + (f" [{iv['low']:.3f}, {iv['high']:.3f}]"
                                       if _is_number(iv.get("low")) else "")

    return [[f"v{version}", row["period"], row["rows"], *(cell(row[m]) for m in REALISED)]
            for version, periods in realised["versions"].items() for row in periods]


def realised_header(realised: dict[str, Any]) -> list[str]:
    ci = f"[{realised['confidence']:.0%} CI]"
    return ["version", realised["bucket"], "rows", *(f"{NAMES[m]} {ci}" for m in REALISED)]


def realised_section(realised: Optional) -> list[str]:
    """Each served version's realised performance once labels landed, per period of scoring."""
    if realised is None:
        return []
    lines = ["## Realised performance of served versions", ""]
    if not isinstance(realised, dict) or not realised.get("versions"):
        return lines + [_missing(realised if isinstance(realised, str) else None,
                                 "no labels have landed yet (`iterate label FILE`)"), ""]
    lines.append(f"{realised['labelled']} labelled predictions, by {realised['bucket']} of "
                 "scoring (from `iterate monitor`):")
    header = realised_header(realised)
    lines += ["", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in realised_rows(realised)]
    return lines + [""]
ESTIMATED = ("roc_auc", "accuracy", "precision", "recall", "f1")
MAX_PERIODS = 14  # the newest periods of each version shown; all are in the JSON


def estimated_section(monitored: Optional) -> list[str]:
    """The served versions' estimated performance on their logged traffic, before labels."""
    lines = ["## Estimated performance before labels", ""]
    estimated = monitored.get("estimated") if isinstance(monitored, dict) else None
    if not isinstance(estimated, dict):
        return lines + [_missing(monitored if isinstance(monitored, str) else None,
                                 "no estimate: run `iterate monitor` after scoring traffic"), ""]
    lines += [f"{estimated.get('method', 'CBPE')}; {_pct(estimated.get('confidence'))} "
              "intervals of the value the labels will show (no concept drift assumed).", "",
              "| version | period | rows | " + " | ".join(_name(m) for m in ESTIMATED) + " |",
              "| --- | --- | ---: |" + " --- |" * len(ESTIMATED)]
    for v in estimated.get("versions") or []:
        if "overall" not in v:
            lines.append(f"| v{v.get('version')} | all | {_int(v.get('rows'))} | "
                         + " | ".join("—" for _ in ESTIMATED) + " |")
            continue
        periods = [("all", v["overall"], v.get("rows"))] + [
            (b.get("start"), b.get("metrics") or {}, b.get("rows"))
            for b in (v.get("buckets") or [])[-MAX_PERIODS:]]
        for period, metrics, rows in periods:
            cells = [f"{_fixed((metrics.get(m) or {}).get('value'), 3)} "
                     f"[{_fixed((metrics.get(m) or {}).get('low'), 3)}, "
                     f"{_fixed((metrics.get(m) or {}).get('high'), 3)}]" for m in ESTIMATED]
            lines.append(f"| v{v.get('version')} | {_cell(period)} | {_int(rows)} | "
                         + " | ".join(cells) + " |")
    missing = [v for v in estimated.get("versions") or [] if "overall" not in v]
    lines += [*[f"- v{v.get('version')}: {_text(v.get('reason'))}" for v in missing], ""]
    return lines


def _drift_columns(drift: dict[str, Any]) -> list[str]:
    columns = drift.get("columns") or {}
    if not columns:
        return ["No column was compared: there is no production model (and so no training "
                "reference) yet.", ""]
    options = drift.get("options") or {}
    thresholds = {"psi": options.get("psi_threshold"),
                  "jensen_shannon": options.get("js_threshold")}
    drifted = sorted((c for c, s in columns.items() if s.get("status") == "drift"),
                     key=lambda c: -(columns[c].get("effect_size") or 0))
    tested = drift.get("n_tested", len(columns))
    dataset = drift.get("dataset_drift")
    lines = [f"{len(drifted)} of {tested} columns drift"
             + (f" (share {_fixed(drift.get('share'), 2)}; the dataset drifts at "
                f"{_fixed(options.get('share_threshold'), 2)}: "
                f"{'**dataset drift**' if dataset else 'no dataset drift'})"
                if drift.get("share") is not None else "")
             + ", comparing the newest batch with the production model's training reference.",
             ""]
    if drifted:
        lines += ["| column | kind | effect size | threshold | test | corrected p | "
                  "unseen categories |", "|---|---|--:|--:|---|--:|---|"]
        for c in drifted:
            s = columns[c]
            unseen = s.get("unseen_categories") or []
            lines.append(
                f"| {_cell(c)} | {s.get('kind', '')} | "
                f"{_effect(s.get('effect'))} {_value(s.get('effect_size'))} | "
                f"{_value(thresholds.get(s.get('effect')))} | {s.get('test', '')} | "
                f"{_p(s.get('p_value_corrected'))} | "
                + (f"{_pct(s.get('unseen_share'))} ({_cell(_list(unseen, 5))})" if unseen
                   else "") + " |")
        lines.append("")
    other: dict[str, list[str]] = {}
    for c, s in sorted(columns.items()):
        if s.get("status") != "drift":
            other.setdefault(str(s.get("status")), []).append(c)
    for status, names in other.items():
        lines += [f"{status.replace('_', ' ').capitalize()}: {_cell(_list(names, 20))}.", ""]
    return lines


def _effect(effect: str | None) -> str:
    return {"psi": "PSI", "jensen_shannon": "JS"}.get(effect or "", effect or "")


# ---------------------------------------------------------------- landed data


def landed_section(landed: Optional, base: str | None) -> list[str]:
    """``landed``: ``added`` (batch records: id, start, end, rows, quarantined and optional
    ``quarantine`` path and ``reasons`` {reason: count}), ``removed`` (ids), optional ``note``.
    """
    lines = [f"## Data landed since {f'`{base}`' if base else 'base'}", ""]
    if not isinstance(landed, dict):
        return lines + [_missing(landed, "cannot tell which batches landed: there is no base "
                                         "revision"), ""]
    added, removed = landed.get("added") or [], landed.get("removed") or []
    if landed.get("note"):
        lines += [f"_{_text(landed['note'])}_", ""]
    if not added:
        lines.append("No batch landed since base.")
    else:
        rows = sum(b.get("rows") or 0 for b in added)
        bad = sum(b.get("quarantined") or 0 for b in added)
        lines += [f"{len(added)} batch{'es' if len(added) != 1 else ''}, {_int(rows)} rows "
                  f"landed, {_int(bad)} quarantined:", "",
                  "| batch | first row | last row | rows | quarantined | why quarantined |",
                  "|---|---|---|--:|--:|---|"]
        for b in added:
            reasons = b.get("reasons") or {}
            why = "; ".join(f"{_cell(r)} ({n})" for r, n in list(reasons.items())[:3])
            if len(reasons) > 3:
                why += f"; … {len(reasons) - 3} more"
            if b.get("quarantine"):
                why = (why + " — " if why else "") + f"`{b['quarantine']}`"
            lines.append(f"| `{b.get('id')}` | {b.get('start', '')} | {b.get('end', '')} | "
                         f"{_int(b.get('rows'))} | {_int(b.get('quarantined'))} | {why} |")
    if removed:
        lines += ["", f"**Removed** since base: {_list([f'`{r}`' for r in removed], 20)}."]
    return lines + [""]


# ---------------------------------------------------------------- plots


def plots_section(plots: list[dict[str, str]] | str | None) -> list[str]:
    lines = ["## Plots", ""]
    if not isinstance(plots, list) or not plots:
        return lines + [_missing(plots if isinstance(plots, str) else None,
                                 "no plot was found: run `dvc repro`"), ""]
    for p in plots:
        if p.get("path"):
            lines += [f"### {p['title']}", "", f"![{p['title']}]({p['path']})", ""]
            if p.get("caption"):
                lines += [p["caption"], ""]
        else:
            lines += [f"### {p['title']}", "", f"_{_text(p.get('missing', 'not found'))}_", ""]
    return lines


# ---------------------------------------------------------------- formatting


def _missing(reason: str | None, default: str) -> str:
    text = _text(reason if isinstance(reason, str) and reason else default).rstrip(".")
    return f"_{_cap(text)}._"


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _fixed(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if _is_number(x) else "—"


def _signed(x: Any, digits: int = 4) -> str:
    return f"{x:+.{digits}f}" if _is_number(x) else "—"


def _ci(low: Any, high: Any, signed: bool = True) -> str:
    if not (_is_number(low) and _is_number(high)):
        return "—"
    f = _signed if signed else _fixed
    return f"[{f(low)}, {f(high)}]"


def _pct(x: Any) -> str:
    return f"{100 * x:.1f}%" if _is_number(x) else "—"


def _p(x: Any) -> str:
    if not _is_number(x):
        return "—"
    return "< 0.0001" if x < 1e-4 else f"{x:.4f}"


def _int(x: Any) -> str:
    return f"{x:,}" if isinstance(x, int) and not isinstance(x, bool) else _value(x)


def _value(x: Any, signed: bool = False) -> str:
    """Any JSON value for a table cell, numbers rounded for people (4 significant digits
    below 1000, one decimal above, integers whole)."""
    if x is None:
        return "—"
    if isinstance(x, bool):
        return str(x).lower()
    if isinstance(x, int):
        return f"{x:+d}" if signed else str(x)
    if isinstance(x, float):
        if x == 0:
            return "0"
        sign = "+" if signed else ""
        if abs(x) >= 1000:
            return f"{x:{sign},.1f}"
        text = f"{x:{sign}.4g}"
        return text if "e" not in text else f"{x:{sign}.2e}"
    if isinstance(x, list | dict):
        return _cell(json.dumps(x, separators=(", ", ": ")))
    if isinstance(x, str) and len(x) >= 32 and all(c in HEX for c in x.lower()):
        return f"`{x[:12]}…`"  # a hash: its start identifies it
    return _cell(str(x))


def _name(metric: Any) -> str:
    return NAMES.get(str(metric), _cell(str(metric)))


def _text(x: Any) -> str:
    """Free text from a JSON file, made safe for markdown (no HTML, no table breaks)."""
    return str(x).replace("<", "&lt;").replace("\r", " ").replace("\n", " ")


def _cell(x: Any) -> str:
    return _text(x).replace("|", "\\|")


def _html(x: Any) -> str:
    return str(x).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _list(items: list[str], limit: int) -> str:
    items = list(items)
    shown = ", ".join(str(i) for i in items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _cap(text: str) -> str:
    """Capitalised like a sentence, unless it starts with a path or a name in backticks."""
    first = text.split(" ", 1)[0]
    return text if "/" in first or first.startswith("`") else text[:1].upper() + text[1:]


def _s(n: int) -> str:
    return "" if n == 1 else "s"
