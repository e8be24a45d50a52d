"""One module per DVC stage, named as the stage: parse the paths given in dvc.yaml's ``cmd``,
read the declared params, call the core, write the outputs. Nothing else."""

from __future__ import annotations

import sys
from collections.abc import Callable

from iterate.errors import IterateError


def run(main: Callable[[list[str]], None]) -> None:
    """Run a stage's ``main``; a user-facing error is one line on stderr and exit code 2."""
    try:
        main(sys.argv[1:])
    except IterateError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
