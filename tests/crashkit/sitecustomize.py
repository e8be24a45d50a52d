"""Fault injection for tests/test_crash.py: SIGKILL this process just before its N-th change
to the file system (a rename/replace, a folder removal, or a subprocess such as `dvc add`).

Loaded only when this folder is on PYTHONPATH. ITERATE_KILL_AT=N arms it; ITERATE_KILL_ONLY
limits it to the processes whose command line contains that text (e.g. a DVC stage's
module, run by `dvc repro`); without it, the variable is removed from the environment so that
child processes (`dvc add`) are not armed as well.
"""

import os

_ONLY = os.environ.get("ITERATE_KILL_ONLY", "")
_AT = os.environ.get("ITERATE_KILL_AT") if _ONLY else os.environ.pop("ITERATE_KILL_AT", None)

if _AT:
    import shutil
    import signal
    import subprocess
    import sys

    _count = [0]

    def _armed(fn):
        def call(*args, **kwargs):
            if _ONLY in " ".join(sys.argv):
                _count[0] += 1
                if _count[0] == int(_AT):
                    os.kill(os.getpid(), signal.SIGKILL)
            return fn(*args, **kwargs)

        return call

    os.replace = _armed(os.replace)
    os.rename = _armed(os.rename)
    shutil.rmtree = _armed(shutil.rmtree)
    subprocess.run = _armed(subprocess.run)
