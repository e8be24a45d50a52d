"""Plain-text tables for the terminal (``iterate history``, the loop's end, the backtest)."""

from __future__ import annotations

from collections.abc import Sequence


def text(header: Sequence[str], rows: Sequence[Sequence[object]],
         right: Sequence[int] = ()) -> str:
    """``header``, a rule and ``rows``, each column as wide as its widest cell, cells shown as
    given (``str``), left-aligned except the columns at the positions ``right``."""
    from tabulate import tabulate

    align = ["right" if i in right else "left" for i in range(len(header))]
    table = tabulate([[str(c) for c in row] for row in rows], [str(h) for h in header],
                     tablefmt="simple", disable_numparse=True, colalign=align)
    return "\n".join(line.rstrip() for line in table.splitlines())
