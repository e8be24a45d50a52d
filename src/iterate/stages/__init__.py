"""One module per DVC stage, named as the stage: parse the paths given in dvc.yaml's ``cmd``,
read the declared params, call the core, write the outputs. Nothing else."""

from __future__ import annotations

import sys
from collections.abc import Callable

from iterate.errors import reported


def run(main: Callable[[list[str]], None]) -> None:
    """Run a stage's ``main``; a user-facing error is one line on stderr and exit code 2."""
    code = reported(lambda: main(sys.argv[1:]))
    if code:
        sys.exit(code)
