"""Warm stage runs: the server answers only its own user and its own code, goes away with its
parent, and a stage run through it is the same run as a cold one (same bytes, same errors)."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from iterate import warm

pytestmark = pytest.mark.skipif(not warm.SUPPORTED, reason="warm runs need Linux")
CRASHKIT = Path(__file__).parent / "crashkit"


def start_server(cwd: Path, env: dict | None = None, log: Path | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "iterate.warmserver", "--idle", "120"], cwd=cwd,
                            env=env, stdin=subprocess.DEVNULL,
                            stderr=log.open("w") if log else None)


def ask(cwd: Path, request: dict) -> dict:
    """Send one request as a stage would; the server's first reply."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        for _ in range(100):  # the server may still be starting
            try:
                client.connect(warm.address(cwd))
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        socket.send_fds(client, [json.dumps(request).encode() + b"\n"], [0, 1, 2])
        return json.loads(client.makefile("rb").readline() or "{}")


def wait_gone(process: subprocess.Popen | int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if isinstance(process, subprocess.Popen):
            if process.poll() is not None:
                return True
        else:
            try:
                os.kill(process, 0)
            except ProcessLookupError:
                return True
        time.sleep(0.1)
    return False


def request(module: str = "iterate.stages.gate", **changes) -> dict:
    return {"module": module, "argv": ["--help"], "cwd": os.getcwd(), "env": dict(os.environ),
            "startup": warm.startup(), "fingerprint": warm.fingerprint(), **changes}


def test_without_a_server_a_stage_is_not_delegated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert warm.delegate("iterate.stages.gate", ["--help"]) is None


def test_the_server_refuses_other_users_and_non_stage_modules_and_stops_when_stale(tmp_path):
    server = start_server(tmp_path)
    try:
        assert ask(tmp_path, request("os"))["status"] == "refused"
        if os.getuid() == 0:  # a stranger on the same machine cannot make us run anything
            stranger = subprocess.run(  # imports first: after setuid, /root is closed
                [sys.executable, "-c",
                 "import json, os, socket, sys\n"
                 "os.setuid(65534)\n"
                 "client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n"
                 "client.connect('\\0' + sys.argv[1])\n"
                 "socket.send_fds(client, [sys.argv[2].encode() + b'\\n'], [0, 1, 2])\n"
                 "print(client.makefile('rb').readline().decode())",
                 warm.address(tmp_path)[1:], json.dumps(request())],
                capture_output=True, text=True, cwd="/")
            assert json.loads(stranger.stdout)["status"] == "refused", stranger.stderr
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.connect(warm.address(tmp_path))
            client.sendall(b"garbage\n")
            assert client.recv(100) == b"", "garbage gets the connection closed, no answer"
        assert server.poll() is None, "refused requests and garbage must not stop the server"
        assert ask(tmp_path, request("os"))["status"] == "refused", "and it still answers"
        assert ask(tmp_path, request(fingerprint="other code"))["status"] == "stale"
        assert wait_gone(server), "a server running other code than its clients must stop"
    finally:
        server.kill()
        server.wait()


def test_a_server_serves_only_stages_started_as_it_was(tmp_path):
    server = start_server(tmp_path)
    try:
        other = {**warm.startup(), "PYTHONHASHSEED": "1"}
        assert ask(tmp_path, request(startup=other))["status"] == "refused"
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()


def test_the_server_goes_away_with_the_loop_that_started_it(tmp_path):
    parent = subprocess.run(
        [sys.executable, "-c",
         "import os; from iterate import warmserver; s = warmserver.Server(); s.ensure(); "
         "print(s.process.pid, flush=True); os._exit(0)"],  # dies without stopping it
        cwd=tmp_path, capture_output=True, text=True, check=True)
    pid = int(parent.stdout)
    gone = wait_gone(pid)
    if not gone:
        os.kill(pid, signal.SIGKILL)
    assert gone, "the server outlived its parent"


def test_a_second_iterate_warm_for_the_same_repository_says_so(template_repo):
    first = start_server(template_repo.path, template_repo.env)
    try:
        time.sleep(0.5)
        second = template_repo.iterate("warm", "--idle", "5", check=False)
        assert second.returncode == 2 and "already serves this repository" in second.stderr
    finally:
        first.kill()
        first.wait()


@pytest.mark.slow
def test_a_warm_repro_writes_exactly_what_a_cold_one_writes(template_repo):
    repo = template_repo
    repo.iterate("replay", "--through", "2013-01-29")
    cold = {**repo.env, "ITERATE_WARM": "0"}
    subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=repo.path, env=cold, check=True,
                   capture_output=True)
    repo.iterate("promote", "--force", "--reason", "baseline")
    repo.iterate("replay", "--next")
    subprocess.run([sys.executable, "-m", "dvc", "repro"], cwd=repo.path, env=cold, check=True,
                   capture_output=True)
    lock_cold = (repo.path / "dvc.lock").read_text()
    pngs = sorted((repo.path / "plots").rglob("*.png"))
    assert pngs

    log = repo.path.parent / "warm.log"
    server = start_server(repo.path, repo.env, log)
    try:
        out = repo.dvc("repro", "--force").stdout
        runs = log.read_text().splitlines()
        assert [line.split()[2] for line in runs] == [f"iterate.stages.{name}" for name in (
            "prepare", "drift", "train", "evaluate", "gate")], "every stage ran in the server"
        # every output hash (models, prepared data, metrics, plot data) is the cold run's
        assert yaml.safe_load((repo.path / "dvc.lock").read_text()) == yaml.safe_load(lock_cold)
        assert "train: hist_gradient_boosting" in out and "gate:" in out

        repo.set_params(**{"gate.slices.margin": "lots"})
        gate = shlex.split(yaml.safe_load((repo.path / "dvc.yaml").read_text())
                           ["stages"]["gate"]["cmd"])
        warm_error = repo.run(*gate, check=False)
        repo.env["ITERATE_WARM"] = "0"
        cold_error = repo.run(*gate, check=False)
        assert (warm_error.returncode, warm_error.stdout, warm_error.stderr) == \
            (cold_error.returncode, cold_error.stdout, cold_error.stderr)
        assert warm_error.returncode == 2 and "gate.slices.margin" in warm_error.stderr
        assert len(runs) + 1 == len(log.read_text().splitlines()), "the failing run was warm"
        assert server.poll() is None, "the server survives a stage's failure"
    finally:
        server.kill()
        server.wait()

    # A stage that dies of a signal (here SIGKILL, injected by tests/crashkit) makes the stage's
    # process die of it too, warm as cold, so DVC sees the same failure.
    repo.set_params(**{"gate.slices.margin": 0.05})
    repo.env.pop("ITERATE_WARM")
    crash = {**repo.env, "PYTHONPATH": f"{CRASHKIT}:{repo.env['PYTHONPATH']}",
             "ITERATE_KILL_AT": "1", "ITERATE_KILL_ONLY": "stages/gate"}
    server = start_server(repo.path, crash, log)
    try:
        killed = subprocess.run(gate, cwd=repo.path, env=crash, capture_output=True)
        assert killed.returncode == -signal.SIGKILL
        assert "iterate.stages.gate exited -9" in log.read_text(), "the run was warm"
        cold = subprocess.run(gate, cwd=repo.path, env={**crash, "ITERATE_WARM": "0"},
                              capture_output=True)
        assert cold.returncode == -signal.SIGKILL
    finally:
        server.kill()
        server.wait()
