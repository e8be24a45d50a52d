"""One module per DVC stage, named as the stage: parse the paths given in dvc.yaml's ``cmd``,
read the declared params, call the core, write the outputs. Nothing else.

A stage module imports its heavy libraries inside its functions: :func:`run` first offers the
run to a warm server (:mod:`iterate.warm`), which has them imported already.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

from iterate import warm
from iterate.errors import reported


def run(main: Callable[[list[str]], None]) -> None:
    """Run a stage's ``main``, warm when a server is up; a user-facing error is one line on
    stderr and exit code 2."""
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is not None:
        code = warm.delegate(spec.name, sys.argv[1:])
        if code is not None:
            sys.exit(code)
    code = reported(lambda: main(sys.argv[1:]))
    if code:
        sys.exit(code)
