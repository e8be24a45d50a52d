"""Benchmark (goal P4): a no-op `dvc repro` against `dvc status` in an up-to-date repository.

A temporary copy of the template (its own git history, as in tests/conftest.py) runs the loop
once: `iterate replay --through 2013-01-28`, `dvc repro`, `iterate promote`, then `dvc repro`
again (drift, train, evaluate and gate now see the production model), so every stage is up to
date. Then `dvc repro` (nothing to run) and `dvc status` are run alternately, --repeats times
each; the medians of wall time and of CPU time (user + system, from os.wait4; less disturbed by
other work on the machine) and their ratios are printed. Goal: no-op repro <= 1.3x status.

--explain also times, inside DVC, what a no-op repro does that status does not (YAML parsing,
the second collection of the stages, the graph and its networkx import, the per-stage
read/write locks), and measures variants of the same repository side by side:

* "one src dep per stage": every stage's list of src/iterate/*.py files replaced by the folder
  `src/iterate` (then `dvc repro` once, to record it), i.e. a smaller dvc.lock.

Each variant is also timed as `dvc repro -P`. (requirements.lock holds ruamel.yaml.clib, so DVC
parses YAML with libyaml: about 30% fewer instructions for every DVC command.)

    .venv/bin/python bench/bench_noop.py [--repeats 5] [--explain]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import GIT_IDENTITY, template_files  # noqa: E402

GOAL = 1.3
# `dvc repro -P` (every pipeline; here the one dvc.yaml) skips DVC's second collection of the
# stages that a plain `dvc repro` does for its default target: same stages, same order.
COMMANDS = ("repro", "repro -P", "status")

# Run instead of `python -m dvc ...` by --explain: times parts of DVC from the inside and
# appends them, as one JSON line, to the file named by $NOOP_PARTS.
PARTS = r"""
import atexit, collections, contextlib, functools, json, os, sys, time
spent = collections.Counter(); calls = collections.Counter()
def timed(owner, name, label):
    original = getattr(owner, name)
    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] += time.perf_counter() - start; calls[label] += 1
    setattr(owner, name, wrapper)
started = time.perf_counter()
import dvc.dependency.param, dvc.repo.graph, dvc.repo.index, dvc.repo.reproduce, dvc.rwlock
import dvc.utils.serialize._yaml, dvc.utils.strictyaml
timed(dvc.utils.serialize._yaml, "parse_yaml", "yaml parsing (all files)")
dvc.utils.strictyaml.parse_yaml = dvc.utils.serialize._yaml.parse_yaml
timed(dvc.repo.index.Index, "from_repo", "index: collect dvc.yaml/.lock/.dvc")
timed(dvc.repo.reproduce, "collect_stages", "repro: collect the stages again")
timed(dvc.repo.graph, "build_graph", "repro: graph (imports networkx)")
timed(dvc.dependency.param.ParamsDependency, "read_params", "params.yaml per stage")
rwlock = dvc.rwlock.rwlock
@contextlib.contextmanager
def timed_rwlock(*args, **kwargs):
    start = time.perf_counter(); lock = rwlock(*args, **kwargs); lock.__enter__()
    spent["stage read/write locks"] += time.perf_counter() - start
    calls["stage read/write locks"] += 1
    try:
        yield
    finally:
        start = time.perf_counter(); lock.__exit__(None, None, None)
        spent["stage read/write locks"] += time.perf_counter() - start
dvc.rwlock.rwlock = timed_rwlock
@atexit.register
def report():
    spent["whole command (in-process)"] = time.perf_counter() - started
    with open(os.environ["NOOP_PARTS"], "a") as f:
        f.write(json.dumps({"cmd": sys.argv[1], "spent": spent, "calls": calls}) + "\n")
from dvc.cli import main
sys.exit(main(sys.argv[1:]))
"""


class Workspace:
    def __init__(self, root: Path):
        self.root = root
        self.env = {**os.environ, **GIT_IDENTITY,
                    "PYTHONPATH": str(root / "src"),
                    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}

    @classmethod
    def template(cls, root: Path) -> Workspace:
        for name in template_files():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
        ws = cls(root)
        ws.run("git", "init", "-q")
        ws.dvc("remote", "modify", "--local", "local", "url", str(root.parent / "dvc-storage"))
        ws.run("git", "add", "-A")
        ws.run("git", "commit", "-qm", "template")
        return ws

    def run(self, *args: str, env: dict | None = None) -> tuple[float, float, str]:
        """Run a command; return (wall seconds, CPU seconds, output)."""
        start = time.perf_counter()
        child = subprocess.Popen(args, cwd=self.root, env=env or self.env, text=True,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        output = child.stdout.read()
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        if status != 0:
            raise SystemExit(f"{' '.join(args)} failed ({status})\n{output}")
        return wall, usage.ru_utime + usage.ru_stime, output

    def dvc(self, *args: str) -> tuple[float, float, str]:
        return self.run(sys.executable, "-m", "dvc", *args)

    def iterate(self, *args: str) -> None:
        self.run(sys.executable, "-m", "iterate.commands.cli", *args)

    def check_up_to_date(self) -> None:
        out = self.dvc("status")[2]
        if "up to date" not in out:
            raise SystemExit(f"{self.root}: the pipeline is not up to date:\n{out}")


def up_to_date(root: Path) -> Workspace:
    """The template after one iteration, committed, with nothing left to reproduce."""
    ws = Workspace.template(root)
    ws.iterate("replay", "--through", "2013-01-28")
    ws.dvc("repro")
    ws.iterate("promote")  # the first model: "no baseline yet"; no stage reads production
    ws.run("git", "add", "-A")
    ws.run("git", "commit", "-qm", "one iteration")
    ws.check_up_to_date()
    return ws


def one_src_dep_per_stage(ws: Workspace, root: Path) -> Workspace:
    """A copy of ``ws`` whose stages each depend on the folder src/iterate instead of a list
    of its files, reproduced once so dvc.lock records that."""
    shutil.copytree(ws.root, root, symlinks=True)
    variant = Workspace(root)
    path = root / "dvc.yaml"
    pipeline = yaml.safe_load(path.read_text())
    for stage in pipeline["stages"].values():
        stage["deps"] = [d for d in stage["deps"] if not str(d).startswith("src/")]
        stage["deps"].append("src/iterate")
    path.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    variant.dvc("repro")
    variant.check_up_to_date()
    return variant


def alternate(variants: dict[str, Workspace], repeats: int) -> dict:
    """Wall and CPU seconds of no-op repro and status, alternating over the variants."""
    times = {(name, cmd): ([], []) for name in variants for cmd in COMMANDS}
    for _ in range(repeats):
        for name, ws in variants.items():
            for cmd in COMMANDS:
                wall, cpu, out = ws.dvc(*cmd.split())
                if cmd.startswith("repro") and "didn't change, skipping" not in out:
                    raise SystemExit(f"`dvc repro` was not a no-op:\n{out}")
                times[(name, cmd)][0].append(wall)
                times[(name, cmd)][1].append(cpu)
    return times


def print_ratios(times: dict, names: list[str]) -> None:
    med = statistics.median
    print(f"{'variant':<34} {'repro s':>8} {'status s':>9} {'ratio':>6}   {'repro CPU':>9} "
          f"{'status CPU':>10} {'ratio':>6}")
    for name in names:
        for repro in ("repro", "repro -P"):
            (rw, rc), (sw, sc) = times[(name, repro)], times[(name, "status")]
            label = name if repro == "repro" else f"{name}, `dvc repro -P`"
            print(f"{label:<34} {med(rw):8.2f} {med(sw):9.2f} {med(rw) / med(sw):6.2f}   "
                  f"{med(rc):9.2f} {med(sc):10.2f} {med(rc) / med(sc):6.2f}")


def parts(ws: Workspace, repeats: int, tmp: Path) -> dict[str, dict[str, tuple[float, int]]]:
    """Median milliseconds (and calls) of each timed part, per command."""
    out = tmp / f"parts-{ws.root.name}.jsonl"
    out.unlink(missing_ok=True)
    env = {**ws.env, "NOOP_PARTS": str(out)}
    for _ in range(repeats):
        for cmd in ("repro", "status"):
            ws.run(sys.executable, "-c", PARTS, cmd, env=env)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    result = {}
    for cmd in ("repro", "status"):
        mine = [r for r in records if r["cmd"] == cmd]
        labels = {label for r in mine for label in r["spent"]}
        result[cmd] = {label: (1000 * statistics.median(r["spent"].get(label, 0) for r in mine),
                               max(r["calls"].get(label, 0) for r in mine)) for label in labels}
    return result


def print_parts(name: str, found: dict) -> None:
    print(f"\n{name}: inside DVC, median ms (calls)")
    print(f"  {'part':<38} {'repro':>13} {'status':>13} {'repro - status':>15}")
    labels = sorted(set(found["repro"]) | set(found["status"]),
                    key=lambda label: -found["repro"].get(label, (0, 0))[0])
    for label in labels:
        r, rn = found["repro"].get(label, (0.0, 0))
        s, sn = found["status"].get(label, (0.0, 0))
        print(f"  {label:<38} {r:7.0f} ({rn:3}) {s:7.0f} ({sn:3}) {r - s:15.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--explain", action="store_true",
                        help="time DVC's parts and measure the variants (a few minutes more)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ws = up_to_date(tmp / "repo")
        variants = {"as is": ws}
        if args.explain:
            variants["one src dep per stage"] = one_src_dep_per_stage(ws, tmp / "variant")
        for variant in variants.values():  # warm the file-system and DVC caches
            variant.dvc("status")
            variant.dvc("repro")
        times = alternate(variants, args.repeats)
        startup = statistics.median(ws.dvc("--version")[0] for _ in range(args.repeats))
        found = {name: parts(v, args.repeats, tmp) for name, v in variants.items()} \
            if args.explain else {}
        leftover = ws.run("git", "status", "--porcelain")[2].strip()
        lock_lines = len((ws.root / "dvc.lock").read_text().splitlines())

    med = statistics.median
    repro, status = times[("as is", "repro")][0], times[("as is", "status")][0]
    print(f"\nup-to-date repository (3 stages + 2 .dvc files, batches through 2013-01-28, "
          f"dvc.lock {lock_lines} lines); median of {args.repeats}, alternating; "
          f"{os.cpu_count()} cores\n")
    print_ratios(times, list(variants))
    ratio = med(repro) / med(status)
    print(f"\nno-op repro / status (wall, as is): {ratio:.2f} (goal <= {GOAL}): "
          f"{'met' if ratio <= GOAL else 'MISSED'}; repro {min(repro):.2f}-{max(repro):.2f} s, "
          f"status {min(status):.2f}-{max(status):.2f} s; `dvc --version` {startup:.2f} s")
    if leftover:
        print(f"note: the no-op repros changed the workspace:\n{leftover}")
    for name, result in found.items():
        print_parts(name, result)


if __name__ == "__main__":
    main()
