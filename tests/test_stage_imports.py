"""Each stage is a process that imports only what it uses: start-up time is most of an
iteration on small data, so no stage draws (matplotlib) and the light ones load no data stack.

Every stage of dvc.yaml runs as DVC runs it (``python -m iterate.stages.X`` with its cmd's
paths), twice: once without a production model, once with one; the packages each process
imported are read from ``sys.modules`` when it ends.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys

import pytest
import yaml
from conftest import make_template_repo

HEAVY = ("numpy", "pandas", "pyarrow", "scipy", "sklearn", "skops", "matplotlib", "PIL",
         "lightgbm", "dask", "distributed")
OPTIONAL = {"lightgbm", "dask", "distributed"}  # only when params choose them (not shipped)
# What each stage must not import (everything it does import is in its cmd's module's walk).
FORBIDDEN = {
    "prepare": {"pandas", "scipy", "sklearn", "skops", "matplotlib", *OPTIONAL},  # Parquet only
    "train": {"matplotlib", "PIL", *OPTIONAL},
    "evaluate": {"pandas", "scipy", "sklearn", "skops", "matplotlib", "PIL", *OPTIONAL},
}
# Runs the stage module as `python -m` does and writes the heavy packages it imported.
RUN = f"""
import json, runpy, sys
out, sys.argv = sys.argv[1], sys.argv[2:]
try:
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
finally:
    with open(out, "w") as f:
        json.dump([m for m in {HEAVY!r} if m in sys.modules], f)
"""


@pytest.fixture(scope="module")
def imported(tmp_path_factory) -> dict[str, set[str]]:
    """The heavy packages each stage imported, over a run without and one with production."""
    repo = make_template_repo(tmp_path_factory.mktemp("imports"))
    repo.set_params(**{"split.window": 2, "split.min_train_rows": 100,
                       "evaluate.resamples": 200, "model.params.max_iter": 10})
    repo.iterate("replay", "--through", "2013-01-21")
    stages = yaml.safe_load((repo.path / "dvc.yaml").read_text())["stages"]
    found: dict[str, set[str]] = {name: set() for name in stages}
    for run in ("no production", "production"):
        if run == "production":
            shutil.copytree(repo.path / "models/candidate", repo.path / "models/production",
                            dirs_exist_ok=True)
        for name, stage in stages.items():
            words = shlex.split(stage["cmd"])
            assert words[:2] == ["python", "-m"]
            out = repo.path / f"{name}.modules.json"
            repo.run(sys.executable, "-c", RUN, str(out), *words[2:])
            found[name] |= set(json.loads(out.read_text()))
    return found


@pytest.mark.slow
@pytest.mark.parametrize("name", list(FORBIDDEN))
def test_a_stage_does_not_import_the_libraries_it_does_not_use(imported, name):
    assert name in imported, f"stage {name} is not in dvc.yaml"
    assert not imported[name] & FORBIDDEN[name], (
        f"stage {name} imported {sorted(imported[name] & FORBIDDEN[name])}")


@pytest.mark.slow
def test_every_stage_of_the_pipeline_has_its_import_rule(imported):
    assert set(imported) == set(FORBIDDEN)
