"""A real remote: OpenSSH's sshd on 127.0.0.1 with a throw-away key, as a DVC SSH remote.

Data and models are pushed there; a fresh clone pulls them and rolls back to an older version
whose bytes only the remote holds. `.ci/run` installs openssh-server when it is missing.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from conftest import Repo

pytestmark = pytest.mark.slow

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def sshd(tmp_path):
    """sshd on 127.0.0.1:<free port>, key authentication only; yields (port, client key)."""
    if not Path(SSHD).exists():
        pytest.fail("sshd is missing: install Debian's openssh-server (.ci/run does)")
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    for name in ("host", "client"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(keys / name)],
                       check=True)
    shutil.copy(keys / "client.pub", keys / "authorized_keys")
    port = free_port()
    config = keys / "sshd_config"
    config.write_text("\n".join([
        f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {keys / 'host'}",
        f"AuthorizedKeysFile {keys / 'authorized_keys'}", "PasswordAuthentication no",
        "KbdInteractiveAuthentication no", "PubkeyAuthentication yes",
        "PermitRootLogin prohibit-password", "StrictModes no", "UsePAM no",
        f"PidFile {keys / 'sshd.pid'}", "Subsystem sftp internal-sftp", ""]))
    Path("/run/sshd").mkdir(parents=True, exist_ok=True)
    server = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.PIPE,
                              text=True)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        if server.poll() is not None:
            pytest.fail(f"sshd did not start: {server.stderr.read()}")
        time.sleep(0.1)
    yield port, keys / "client"
    server.terminate()
    server.wait(timeout=10)


def use_ssh_remote(repo: Repo, port: int, key: Path, storage: Path) -> None:
    user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True).stdout
    repo.dvc("remote", "add", "--local", "-f", "-d", "team",
             f"ssh://{user.strip()}@127.0.0.1:{port}{storage}")
    repo.dvc("remote", "modify", "--local", "team", "keyfile", str(key))


def test_push_to_an_ssh_remote_then_clone_pull_and_roll_back_there(template_repo, sshd,
                                                                   tmp_path):
    port, key = sshd
    storage = tmp_path / "remote-storage"
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, "model.kind": "sgd_logistic"})
    repo.git("commit", "-qam", "fast settings")
    repo.iterate("loop", "--iterations", "2")
    registry = yaml.safe_load((repo.path / "models/registry.yaml").read_text())["versions"]
    assert [e["version"] for e in registry] == ["1.0.0", "1.0.1"]

    use_ssh_remote(repo, port, key, storage)
    repo.dvc("push", "--all-commits")  # every version, not only the one checked out
    assert any(storage.rglob("*.dir")), "nothing reached the SSH remote"

    clone = Repo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone.path)], check=True)
    use_ssh_remote(clone, port, key, storage)
    clone.dvc("pull")
    production = json.loads((clone.path / "models/production/model.json").read_text())
    assert production["sha256"] == registry[-1]["model_sha256"]
    assert sorted(p.name for p in (clone.path / "data/raw").glob("*.parquet")) == sorted(
        p.name for p in (repo.path / "data/raw").glob("*.parquet"))

    # v1.0.0's bytes are in no cache of the clone: rollback fetches them from the remote
    out = clone.iterate("rollback", "1.0.0", "--reason", "rollback in a fresh clone")
    assert "rolled back flight-delay to v1.0.0" in out.stdout
    restored = json.loads((clone.path / "models/production/model.json").read_text())
    assert restored["sha256"] == registry[0]["model_sha256"]
    assert json.loads(clone.dvc("status", "--json", "models/production.dvc").stdout) == {}


def test_rollback_whose_bytes_no_remote_holds_changes_nothing(template_repo, sshd, tmp_path):
    port, key = sshd
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, "model.kind": "sgd_logistic"})
    repo.git("commit", "-qam", "fast settings")
    repo.iterate("loop", "--iterations", "2")
    clone = Repo(tmp_path / "clone")
    subprocess.run(["git", "clone", "-q", str(repo.path), str(clone.path)], check=True)
    use_ssh_remote(clone, port, key, tmp_path / "empty-storage")  # nothing was pushed
    models = clone.path / "models"
    before = {p: p.read_bytes() for p in models.rglob("*") if p.is_file()}
    result = clone.iterate("rollback", "1.0.0", "--reason", "no bytes anywhere", check=False)
    assert result.returncode != 0
    assert result.stderr.count("\n") == 1 and "neither in the DVC cache nor in the remote" in \
        result.stderr
    assert {p: p.read_bytes() for p in models.rglob("*") if p.is_file()} == before
    assert not [p for p in models.iterdir() if p.name.startswith(".") and p.name != ".gitignore"]


def test_the_template_ships_a_local_directory_default_remote():
    config = (Path(__file__).resolve().parents[1] / ".dvc" / "config").read_text()
    assert "remote = local" in config and "url = ../../dvc-storage" in config
