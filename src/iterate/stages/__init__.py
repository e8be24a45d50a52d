"""One module per DVC stage, named as the stage (prepare, train, evaluate): parse the paths
given in dvc.yaml's ``cmd``, read the declared params, call the core, write the outputs.
Nothing else. Two steps have modules of their own, run inside a stage's process (a process
each would pay for its imports again): drift, train's first step, and gate, evaluate's last."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from iterate.errors import reported
from iterate.repo import atomic


def run(main: Callable[[list[str]], None]) -> None:
    """Run a stage's ``main`` holding the repository lock shared (no promote, rollback or
    landing changes its inputs meanwhile); a user-facing error is one line on stderr and exit
    code 2."""
    with atomic.stage_lock(what=f"stage {Path(sys.argv[0]).stem}"):
        code = reported(lambda: main(sys.argv[1:]))
    if code:
        sys.exit(code)
