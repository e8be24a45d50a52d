"""Small JSON files (metrics, verdicts): read with a clear error, write finite and atomic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from iterate.errors import IterateError
from iterate.repo import atomic


def read_json(path: Path, hint: str) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IterateError(f"{path}: not found; {hint}") from None
    except json.JSONDecodeError as exc:
        raise IterateError(f"{path}: not valid JSON ({exc}); {hint}") from None


def write_json(path: Path, data: Any) -> None:
    """Write ``data`` atomically; NaN or infinity is a bug and raises (they break dvc metrics)."""
    atomic.write_text(path, json.dumps(data, indent=2, allow_nan=False) + "\n")


def write_metrics(path: Path, data: dict[str, Any]) -> None:
    """Write a DVC metrics file: nested mappings whose leaves are numbers. A leaf that is None
    (not computable) is left out; a string, a boolean or a list is a bug and raises, since
    `dvc metrics diff` would print it as a column of words (verdicts, hashes go elsewhere)."""
    write_json(path, _numbers(data, str(path)))


def _numbers(node: Any, where: str) -> Any:
    if isinstance(node, dict):
        kept = {key: _numbers(value, f"{where}:{key}") for key, value in node.items()
                if value is not None}
        return {key: value for key, value in kept.items() if value != {}}
    if isinstance(node, bool) or not isinstance(node, int | float):
        raise TypeError(f"{where}: a metrics file holds numbers only, not {node!r}")
    return node
