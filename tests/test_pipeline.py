"""The pipeline's declarations are complete: DVC knows every path and param a stage uses."""

from __future__ import annotations

import ast
import importlib
import shlex
from pathlib import Path

import pytest
import yaml

from iterate.repo import layout

ROOT = Path(__file__).resolve().parents[1]
DVC_YAML = yaml.safe_load((ROOT / "dvc.yaml").read_text())
PARAMS_YAML = yaml.safe_load((ROOT / "params.yaml").read_text())
STAGES = DVC_YAML["stages"]


def declared(stage: dict, kind: str) -> list[str]:
    """Paths of deps/outs/metrics/plots, whether written as strings or {path: options}."""
    paths = []
    for item in stage.get(kind, []):
        paths.extend([item] if isinstance(item, str) else item.keys())
    return paths


def stage_module(stage: dict) -> str:
    words = shlex.split(stage["cmd"])
    assert words[:2] == ["python", "-m"], f"cmd should be `python -m MODULE ...`: {stage['cmd']}"
    return words[2]


def cmd_paths(stage: dict) -> list[str]:
    return [w for w in shlex.split(stage["cmd"])[3:] if not w.startswith("-")]


def within(path: str, roots: list[str]) -> bool:
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)


def imported_modules(module: str, seen: set[str] | None = None) -> set[str]:
    """``module`` and every ``iterate`` module it imports, lazily or not, transitively."""
    seen = set() if seen is None else seen
    if module in seen:
        return seen
    seen.add(module)
    path = Path(importlib.util.find_spec(module).origin)
    parts = module.split(".")
    for package in (".".join(parts[:i]) for i in range(1, len(parts))):
        imported_modules(package, seen)
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            if name.split(".")[0] == "iterate" and is_module(name):
                imported_modules(name, seen)
    return seen


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a name inside a module, e.g. iterate.errors.IterateError
        return False


def module_file(module: str) -> str:
    return str(Path(importlib.util.find_spec(module).origin).relative_to(ROOT))


@pytest.mark.parametrize("name", list(STAGES))
def test_every_path_a_stage_cmd_passes_is_declared(name):
    stage = STAGES[name]
    known = declared(stage, "deps") + declared(stage, "outs") + declared(stage, "metrics") + \
        declared(stage, "plots")
    undeclared = [p for p in cmd_paths(stage) if not within(p, known)]
    assert not undeclared, f"stage {name} passes undeclared paths {undeclared}"


@pytest.mark.parametrize("name", list(STAGES))
def test_every_params_section_a_stage_reads_is_declared_and_exists(name):
    stage = STAGES[name]
    module = importlib.import_module(stage_module(stage))
    assert set(module.PARAMS) == set(stage.get("params", [])), (
        f"stage {name} reads params {module.PARAMS}, dvc.yaml declares {stage.get('params')}")
    missing = [s for s in stage.get("params", []) if s not in PARAMS_YAML]
    assert not missing, f"stage {name} declares params missing from params.yaml: {missing}"


# Modules that cannot change what a stage writes (the error type, atomic writes, the stage
# runner, package docstrings): not deps, so editing one does not rerun the whole pipeline.
INFRASTRUCTURE = {
    "src/iterate/__init__.py",
    "src/iterate/core/__init__.py",
    "src/iterate/repo/__init__.py",
    "src/iterate/stages/__init__.py",
    "src/iterate/errors.py",
    "src/iterate/repo/atomic.py",
    "src/iterate/repo/jsonfile.py",
}


def stage_code(name: str) -> list[str]:
    """The source files a stage imports (transitively), infrastructure excluded."""
    code = {module_file(m) for m in imported_modules(stage_module(STAGES[name]))}
    return sorted(code - INFRASTRUCTURE)


@pytest.mark.parametrize("name", list(STAGES))
def test_a_stage_depends_on_exactly_the_code_it_imports(name):
    code = set(stage_code(name))
    deps = {d for d in declared(STAGES[name], "deps") if d.startswith("src/")}
    expected = "".join(f"\n      - {c}" for c in sorted(code))
    assert code == deps, (f"stage {name}: undeclared {sorted(code - deps)}, not imported "
                          f"{sorted(deps - code)}; its code deps in dvc.yaml should be:{expected}")


def test_a_stage_reading_an_undeclared_params_section_fails():
    from iterate import params

    guarded = params.load(ROOT / "params.yaml", sections=("split",))
    assert guarded.split.window == PARAMS_YAML["split"]["window"]
    with pytest.raises(AttributeError, match="'model' is not declared"):
        _ = guarded.model


def test_the_commands_use_the_paths_the_pipeline_declares():
    everything = {p for s in STAGES.values() for kind in ("deps", "outs", "metrics", "plots")
                  for p in declared(s, kind)}
    for path in (layout.RAW, layout.CANDIDATE, layout.BASELINE, layout.EVALUATION,
                 layout.SLICES, layout.GATE):
        assert str(path) in everything, f"{path} (iterate's layout) is not in dvc.yaml"


@pytest.mark.parametrize("name", list(STAGES))
def test_no_stage_reads_the_folder_promote_and_rollback_rewrite(name):
    """Stages read the baseline pinned at landing; a promotion leaves its commit up to date."""
    paths = declared(STAGES[name], "deps") + cmd_paths(STAGES[name])
    assert not [p for p in paths if within(p, [str(layout.PRODUCTION), str(layout.REGISTRY)])]


def top_level_plot_files() -> list[str]:
    return [f for plot in DVC_YAML["plots"] for f in ([plot] if isinstance(plot, str) else [
        f for spec in plot.values() for f in (spec.get("y") or {})])]


def test_top_level_plots_name_files_the_stages_write():
    # not the backtest's: a command, not a stage, whose plots exist only after it ran (`dvc plots
    # diff` would warn "failed to load some plots" in every repository that never ran it)
    outputs = [p for s in STAGES.values() for p in declared(s, "outs")]
    for f in top_level_plot_files():
        assert within(f, outputs), f"plot file {f} is not written by any stage"


def test_every_plot_is_declared_once_at_the_top_level():
    # a folder declared as a stage's plots draws each file in it, again beside the named plot
    assert not [p for s in STAGES.values() for p in declared(s, "plots")]
    files = top_level_plot_files()
    assert len(files) == len(set(files)), files


def test_dvc_metrics_files_are_apart_from_the_records_the_commands_read():
    metrics = [p for s in STAGES.values() for p in declared(s, "metrics")]
    assert metrics and all(p.startswith("metrics/numbers/") for p in metrics), metrics
    records = {str(p) for p in (layout.EVALUATION, layout.SLICES, layout.GATE, layout.DRIFT,
                                layout.MONITOR)}
    assert not records & set(metrics)


def test_the_gate_reads_productions_age_from_the_advice_the_train_stage_wrote():
    """The drift step writes advice.json inside the train stage; the gate, inside evaluate,
    reads production's age from it, so evaluate declares it and reruns when it changes."""
    train, evaluate = STAGES["train"], STAGES["evaluate"]
    assert str(layout.ADVICE) in declared(train, "outs")
    assert str(layout.ADVICE) in declared(evaluate, "deps")
    assert str(layout.ADVICE) in cmd_paths(evaluate)
