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
