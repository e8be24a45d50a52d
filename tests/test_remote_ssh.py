"""A real remote: an SSH/SFTP server on 127.0.0.1 with throw-away keys, as a DVC SSH remote.

The server is asyncssh's (it comes with dvc-ssh, pinned in requirements.lock), so the test
needs nothing outside the lock: no OpenSSH server, no ssh-keygen. Data and models are pushed
there; a fresh clone pulls them and rolls back to an older version whose bytes only the remote
holds.
"""

from __future__ import annotations

import asyncio
import getpass
import json
import subprocess
import threading
from pathlib import Path

import asyncssh
import pytest
import yaml
from conftest import Repo
from helpers import SGD_PARAMS

# SGD settings whose second iteration the gate promotes (these tests need two versions;
# with the calibrated alpha 0.03 and 5 epochs the gate keeps v1.0.0 on batch 3)
TWO_VERSIONS = {**SGD_PARAMS, "model.params": {
    **SGD_PARAMS["model.params"], "alpha": 0.0001, "max_iter": 20}}

pytestmark = pytest.mark.slow

START_TIMEOUT = 20  # seconds the server may take to listen


@pytest.fixture
def sftp_server(tmp_path):
    """An SFTP server on 127.0.0.1:<free port>, public-key authentication only (the client key
    in its authorized keys), run by an event loop in a thread; yields (port, client key)."""
    keys = tmp_path / "ssh"
    keys.mkdir(mode=0o700)
    host, client = (asyncssh.generate_private_key("ssh-ed25519") for _ in range(2))
    host.write_private_key(keys / "host")
    client.write_private_key(keys / "client")
    client.write_public_key(keys / "authorized_keys")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()

    async def listen() -> asyncssh.SSHAcceptor:
        return await asyncssh.listen("127.0.0.1", 0, server_host_keys=[str(keys / "host")],
                                     authorized_client_keys=str(keys / "authorized_keys"),
                                     sftp_factory=True)

    try:
        server = asyncio.run_coroutine_threadsafe(listen(), loop).result(timeout=START_TIMEOUT)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        raise
    yield server.get_port(), keys / "client"

    async def close() -> None:
        server.close()
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(close(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


def use_ssh_remote(repo: Repo, port: int, key: Path, storage: Path) -> None:
    """The clone's default remote: the server's folder ``storage``, as user/port/keyfile settings.
    No known_hosts: DVC's SSH filesystem (sshfs) does not check host keys."""
    repo.dvc("remote", "add", "--local", "-f", "-d", "team", f"ssh://127.0.0.1{storage}")
    for option, value in (("user", getpass.getuser()), ("port", str(port)), ("keyfile", str(key))):
        repo.dvc("remote", "modify", "--local", "team", option, value)


def test_push_to_an_ssh_remote_then_clone_pull_and_roll_back_there(template_repo, sftp_server,
                                                                   tmp_path):
    port, key = sftp_server
    storage = tmp_path / "remote-storage"
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, **TWO_VERSIONS})
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


def test_rollback_whose_bytes_no_remote_holds_changes_nothing(template_repo, sftp_server,
                                                              tmp_path):
    port, key = sftp_server
    repo = template_repo
    repo.set_params(**{"replay.warmup_batches": 2, **TWO_VERSIONS})
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
