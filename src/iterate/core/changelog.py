"""Markdown for people, rendered from the registry (the single source): the changelog, the
model card of the production version, and the ``iterate history`` table."""

from __future__ import annotations

from typing import Any

from iterate.core import explain, tables

SHOWN = ("roc_auc", "f1", "precision", "recall", "accuracy", "log_loss", "brier")


def changelog(name: str, entries: list[dict[str, Any]], description: str = "") -> str:
    """Every promotion and rollback, newest first; ``description`` (``registry.description``)
    says what the model predicts."""
    lines = [f"# Changelog: {name}", ""]
    if description.strip():
        lines += [f"**Predicts:** {' '.join(description.split())}", ""]
    lines += ["Rendered from `models/registry.yaml` by `iterate promote` / `iterate rollback`; "
              "do not edit by hand.", ""]
    for entry in reversed(entries):
        lines += _entry(entry) + [""]
    return "\n".join(lines).rstrip() + "\n"


def _entry(e: dict[str, Any]) -> list[str]:
    when = e["time"].replace("T", " ").removesuffix("Z") + " UTC"
    if e["action"] == "rollback":
        return [f"## v{e['version']}: rolled back to ({when})", "",
                f"- **Why:** {e['reason']}",
                f"- **Replaced:** {_version(e.get('replaced'))}",
                f"- **Model:** {e['kind']}, SHA-256 `{e['model_sha256'][:12]}`"]
    forced = " (forced)" if e["forced"] else ""
    lines = [f"## v{e['version']}: promoted{forced} ({when})", "",
             f"- **Why:** {e['reason']}",
             f"- **Replaced:** {_version(e.get('replaced'))}",
             f"- **Model:** {e['kind']}, trained {e['train_mode']}, SHA-256 "
             f"`{e['model_sha256'][:12]}`",
             f"- **Data:** {_data(e['training_data'])}"]
    if e.get("holdout"):
        h = e["holdout"]
        lines.append(f"- **Evaluated on:** holdout batch {h['batch']} ({h['rows']} rows), "
                     "which neither model trained on")
    breaking = [c for c in e.get("compatibility", []) if c["kind"] == "breaking"]
    other = [c for c in e.get("compatibility", []) if c["kind"] != "breaking"]
    if breaking:
        lines.append("- **Breaking changes:** " + "; ".join(_change(c) for c in breaking))
    if other:
        lines.append("- **Compatible changes:** " + "; ".join(_change(c) for c in other))
    lines.append(f"- **Gate:** {e['gate']['verdict']}")
    lines += explain.changelog_lines(e.get("explain"))
    if e.get("metrics"):
        lines += ["", *metrics_table(e["metrics"])]
    return lines


def metrics_table(metrics: dict[str, Any]) -> list[str]:
    rows = ["| metric | this version | replaced | Δ | 95% CI of Δ |", "|---|---|---|---|---|"]
    for m in SHOWN:
        s = metrics.get(m) or {}
        ci = (f"[{s['delta_low']:+.4f}, {s['delta_high']:+.4f}]"
              if s.get("delta_low") is not None else "")
        rows.append(f"| {m} | {_num(s.get('candidate'))} | {_num(s.get('production'))} | "
                    f"{_num(s.get('delta'), signed=True)} | {ci} |")
    return rows


def card(name: str, entry: dict[str, Any], input_schema: dict[str, Any],
         output: dict[str, Any], description: str = "") -> str:
    """The model card of a promoted version (lives beside the model in models/production).

    ``description`` (``registry.description``) says what the model predicts; the rest comes
    from the registry entry and the model's input schema, so no dataset is named here.
    """
    lines = [f"# Model card: {name} v{entry['version']}", ""]
    if description.strip():
        lines += [f"**Predicts:** {' '.join(description.split())}", ""]
    lines += ["## This version", "",
             f"- **Promoted:** {entry['time']} — {entry['reason']}",
             f"- **Model:** {entry['kind']} ({entry['train_mode']} training), "
             f"SHA-256 `{entry['model_sha256']}`",
             f"- **Training data:** {_data(entry['training_data'])}",
             f"- **Output:** probability of class {output['probability_of']} of "
             f"{output['classes']}; label = probability ≥ {_cut(output, entry)}", ""]
    if entry.get("metrics"):
        lines += ["## Holdout metrics", ""]
        h = entry["holdout"]
        lines += [f"On batch {h['batch']} ({h['rows']} rows), against the version it replaced:",
                  "", *metrics_table(entry["metrics"]), ""]
    relies = explain.importance_table(entry.get("explain"), "this version", "replaced")
    if relies:
        metric = entry["explain"]["importance"]["metric"]
        lines += ["## What it relies on", "",
                  f"Permutation importance on {entry['explain']['importance']['rows']} holdout "
                  f"rows: the {explain.METRIC_WORDS.get(metric, metric)} lost when a feature is "
                  "shuffled, with its 95% CI, against the version it replaced (docs/explain.md).",
                  "", *relies, ""]
    gaps = explain.gaps_table(entry.get("explain"), "this version", "replaced")
    if gaps:
        lines += ["## Gaps between groups", "",
                  "The largest difference of each metric between two groups of a column, and "
                  "how much this version widens it against the one it replaced.", "", *gaps, ""]
    lines += ["## Known limits", "", *_limits(entry), "",
              "## Input contract", "", "| column | dtype | nullable | accepted | known |",
              "|---|---|---|---|---|"]
    for col, s in input_schema.items():
        accepted = f"{_num(s.get('min'))} .. {_num(s.get('max'))}" if s["dtype"] != "category" \
            else ", ".join(s.get("values") or []) or "any"
        known = (f"{len(s.get('categories', []))} categories" if s["dtype"] == "category"
                 else f"{_num(s.get('seen_min'))} .. {_num(s.get('seen_max'))} seen")
        lines.append(f"| {col} | {s['dtype']} | {'yes' if s['nullable'] else 'no'} | "
                     f"{accepted} | {known} |")
    return "\n".join(lines) + "\n"


def _limits(entry: dict[str, Any]) -> list[str]:
    out = []
    slices = entry.get("slices")
    if slices:
        scored = {v: m for v, m in slices["values"].items() if m and m["roc_auc"]["candidate"]}
        if scored:
            worst = min(scored, key=lambda v: scored[v]["roc_auc"]["candidate"])
            out.append(f"- Weakest {slices['column']}: {worst} (ROC AUC "
                       f"{scored[worst]['roc_auc']['candidate']:.3f}).")
        small = [v for v, m in slices["values"].items() if m is None]
        if small:
            out.append(f"- Too few holdout rows to judge {slices['column']} "
                       f"{', '.join(small)}.")
    data = entry.get("training_data") or {}
    seen = data.get("seen") or {}
    first, last = seen.get("first", data.get("start")), seen.get("last", data.get("end"))
    span = f"the batches {first} .. {last}" if first and last else "its training batches"
    out.append(f"- Trained on {span} only; a category never seen in training is encoded as "
               "unknown.")
    return out


def history_table(entries: list[dict[str, Any]]) -> str:
    header = ["version", "action", "time", "model", "data", "ROC AUC", "Δ", "reason"]
    body = []
    for e in entries:
        auc = (e.get("metrics") or {}).get("roc_auc") or {}
        data = e["training_data"]
        body.append([e["version"], e["action"], e["time"], f"{e['kind']} ({e['train_mode']})",
                     f"{len(data['batches'])} batches, {data['rows']} rows",
                     _num(auc.get("candidate")), _num(auc.get("delta"), signed=True),
                     _short(e["reason"])])
    return tables.text(header, body)


def _version(version: str | None) -> str:
    return f"v{version}" if version else "nothing (first version)"


def _data(d: dict[str, Any]) -> str:
    """The batches an entry trained on and, when it continued an earlier model, all it has seen."""
    own = (f"{len(d['batches'])} batches, {d['start']} .. {d['end']}, {d['rows']} rows"
           if d.get("batches") else "none recorded")
    seen = d.get("seen")
    if seen and seen["count"] > len(d.get("batches") or []):
        own += f"; has seen {seen['count']} batches, {seen['first']} .. {seen['last']}"
    return own


def _change(c: dict[str, Any]) -> str:
    return f"{c['column']}: {c['what']}" if c.get("column") else c["what"]


def _short(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    if signed:
        return f"{value:+.4f}"
    return f"{value:g}" if float(value).is_integer() or abs(value) >= 10 else f"{value:.4f}"


def _cut(output: dict, entry: dict) -> str:
    """The threshold, and the rule that chose it when ``model.threshold`` was one."""
    rule = (entry.get("model_params") or {}).get("threshold")
    cut = output["threshold"]
    if isinstance(rule, str):
        return f"{cut:.4f} (chosen by {rule} on the training window)"
    return f"{cut}"
