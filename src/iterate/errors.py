"""Errors a user can act on: each prints as one line and exits non-zero."""

from __future__ import annotations

import sys
from collections.abc import Callable


class IterateError(Exception):
    """A problem with the user's input or state, told in one line: what, where, how to fix."""

    exit_code = 2


def reported(command: Callable[[], int | None]) -> int:
    """Run a command and return its exit code; an :class:`IterateError` becomes one line on
    stderr (``error: ...``) and its exit code."""
    try:
        return command() or 0
    except IterateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code


class ParamsError(IterateError):
    """params.yaml has an unknown key, a wrong type or an impossible combination."""

    def __init__(self, key: str, message: str, file: str = "params.yaml"):
        super().__init__(f"{file}: {key}: {message}" if key else f"{file}: {message}")
        self.key, self.problem = key, message


class ContractError(IterateError):
    """A batch cannot be landed as a whole (wrong columns, unreadable, empty ...)."""
