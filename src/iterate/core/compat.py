"""The compatibility contract between two model versions.

Each version stores its input schema (columns, dtypes, nullability, accepted ranges, known
categories) and output API (classes, probability column). Comparing the candidate with
production classifies each difference:

- breaking: a column removed or newly required, a dtype narrowed or changed in kind, a column
  no longer nullable, an accepted range or value set narrowed, a class added or removed, the
  probability given for another class. Input that production accepted may be refused (or
  mean something else), so promotion needs ``--force --reason`` and the major version goes up.
- compatible: a new optional (nullable) column, a dtype widened (int to float), a column now
  nullable, a range widened, a category added or no longer known (it then encodes as unknown),
  a new decision threshold.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

BREAKING, COMPATIBLE = "breaking", "compatible"
WIDER_DTYPE = {("int", "float")}


@dataclass(frozen=True)
class Change:
    kind: str  # BREAKING | COMPATIBLE
    column: str | None
    what: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def compare(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Differences from model metadata ``old`` (production) to ``new`` (candidate).

    Both are ``model.json`` contents with ``input_schema`` and ``output``.
    """
    changes: list[Change] = []
    old_cols, new_cols = old["input_schema"], new["input_schema"]
    for name in old_cols.keys() - new_cols.keys():
        changes.append(Change(BREAKING, name, "column removed"))
    for name in new_cols.keys() - old_cols.keys():
        if new_cols[name]["nullable"]:
            changes.append(Change(COMPATIBLE, name, "new optional column"))
        else:
            changes.append(Change(BREAKING, name, "new required column"))
    for name in sorted(old_cols.keys() & new_cols.keys()):
        changes.extend(_column(name, old_cols[name], new_cols[name]))
    old_classes, new_classes = old["output"]["classes"], new["output"]["classes"]
    for cls in sorted(set(old_classes) - set(new_classes)):
        changes.append(Change(BREAKING, None, f"class {cls} removed"))
    for cls in sorted(set(new_classes) - set(old_classes)):
        changes.append(Change(BREAKING, None, f"class {cls} added"))
    if old["output"].get("probability_of") != new["output"].get("probability_of"):
        changes.append(Change(BREAKING, None, "probability is now of class "
                              f"{new['output'].get('probability_of')}"))
    if old["output"].get("threshold") != new["output"].get("threshold"):
        before, after = old["output"].get("threshold"), new["output"].get("threshold")
        changes.append(Change(COMPATIBLE, None, f"decision threshold {before} -> {after}"))
    return sorted(changes, key=lambda c: (c.kind != BREAKING, c.column or "", c.what))


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.kind == BREAKING]


def _as_set(values: list[str] | None) -> frozenset[str] | None:
    return None if values is None else frozenset(values)


def _column(name: str, old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    out = []
    if old["dtype"] != new["dtype"]:
        kind = COMPATIBLE if (old["dtype"], new["dtype"]) in WIDER_DTYPE else BREAKING
        out.append(Change(kind, name, f"dtype {old['dtype']} -> {new['dtype']}"))
    if old["nullable"] and not new["nullable"]:
        out.append(Change(BREAKING, name, "no longer nullable"))
    elif new["nullable"] and not old["nullable"]:
        out.append(Change(COMPATIBLE, name, "now nullable"))
    for end, narrower in (("min", lambda o, n: n > o), ("max", lambda o, n: n < o)):
        o, n = old.get(end), new.get(end)
        if o == n:
            continue
        if n is not None and (o is None or narrower(o, n)):
            out.append(Change(BREAKING, name, f"accepted {end} narrowed {o} -> {n}"))
        else:
            out.append(Change(COMPATIBLE, name, f"accepted {end} widened {o} -> {n}"))
    old_values, new_values = old.get("values"), new.get("values")
    if _as_set(old_values) != _as_set(new_values):
        if new_values is not None and (old_values is None or set(old_values) - set(new_values)):
            out.append(Change(BREAKING, name, "accepted values narrowed"))
        else:
            out.append(Change(COMPATIBLE, name, "accepted values widened"))
    old_known, new_known = set(old.get("categories") or []), set(new.get("categories") or [])
    if new_known - old_known:
        added = ", ".join(sorted(new_known - old_known))
        out.append(Change(COMPATIBLE, name, f"new categories: {added}"))
    if old_known - new_known:
        out.append(Change(COMPATIBLE, name, "categories no longer known (encoded as unknown): "
                          + ", ".join(sorted(old_known - new_known))))
    return out
