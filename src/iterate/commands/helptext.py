"""Docstrings as ``--help`` text: the reStructuredText markup a terminal would print literally
(double backticks, ``:mod:`` roles) becomes the single backticks the rest of the CLI uses."""

from __future__ import annotations

import re

ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")
LITERAL = re.compile(r"``(.+?)``", re.S)


def plain(text: str | None) -> str | None:
    """``text`` with ``x`` and :role:`x` written as `x`."""
    if text is None:
        return None
    return LITERAL.sub(r"`\1`", ROLE.sub(r"`\1`", text))
