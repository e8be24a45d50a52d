"""End to end: `iterate serve` on 127.0.0.1 in a temporary repository with two promoted
versions (real DVC, real git): requests, the input contract, hot swaps through promote and
rollback under load, the prediction log under SIGKILL, the shadow, a tampered model."""

from __future__ import annotations

import json
import shutil
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import make_template_repo
from helpers import SGD_PARAMS, source_rows
from servekit import Server, json_rows

from iterate.commands import cli
from iterate.repo import bundles, predlog, scoring

pytestmark = pytest.mark.slow

V1, V2 = "1.0.0", "1.0.1"
SWAPS = 10


class Scenario:
    def __init__(self, tmp: Path):
        self.repo = make_template_repo(tmp)
        self.bundles: dict[str, Path] = {}
        self.repo.set_params(**{"replay.warmup_batches": 2, "registry.tag": False,
                                "serve.watch_seconds": 0.1, **SGD_PARAMS})
        self.repo.git("commit", "-qam", "two warm-up batches, sgd, no tags")
        self.repo.iterate("replay", "--through", "2013-01-08")
        self.repo.dvc("repro")
        self.promote(V1)
        self.repo.iterate("replay", "--next")
        self.repo.dvc("repro")
        self.promote(V2)

    def promote(self, version: str) -> None:
        self.repo.iterate("promote", "--force", "--reason", "serving test")
        copy = self.repo.path.parent / f"v{version}"
        shutil.copytree(self.repo.path / "models/production", copy)
        self.bundles[version] = copy

    def serve(self, *args: str) -> Server:
        return Server(self.repo.path, *args, env=self.repo.env)

    def expected(self, version: str, rows: pd.DataFrame) -> np.ndarray:
        """The probabilities ``version``'s own model gives ``rows``."""
        scored, _ = scoring.score(bundles.load(self.bundles[version]), version, rows, "test")
        return scored["probability"].to_numpy()

    def log(self, version: str | None = None) -> pd.DataFrame:
        return predlog.read(version, self.repo.path / "data/predictions")

    def clear_log(self) -> None:
        shutil.rmtree(self.repo.path / "data/predictions", ignore_errors=True)


@pytest.fixture(scope="module")
def s(tmp_path_factory) -> Scenario:
    return Scenario(tmp_path_factory.mktemp("serve"))


ROWS = source_rows(30)


def test_each_returned_row_has_an_id_probability_label_and_version_of_the_model(s):
    s.clear_log()
    with s.serve() as server:
        status, body = server.post(ROWS)
        csv_status, csv_body = server.post(ROWS, csv=True)
        listed_status, listed = server.post(json_rows(ROWS.head(2)))  # a bare list
    assert (status, csv_status, listed_status) == (200, 200, 200)
    assert len(listed["rows"]) == 2
    for answer in (body, csv_body):
        got = pd.DataFrame(answer["rows"])
        assert list(got.columns) == ["prediction_id", "probability", "predicted_label",
                                     "model_version"]
        assert (got["model_version"] == V2).all()
        np.testing.assert_array_equal(got["probability"], s.expected(V2, ROWS))
        assert got["prediction_id"].is_unique
    logged = s.log(V2)  # the log is written on shutdown: every served row, by its ID
    served = {r["prediction_id"] for a in (body, csv_body, listed) for r in a["rows"]}
    assert set(logged["prediction_id"]) == served and len(logged) == len(served)


def test_input_that_breaks_the_contract_gets_a_422_naming_row_and_column_and_nothing_is_logged(
        s):
    s.clear_log()
    bad = ROWS.head(5).copy()
    bad.loc[3, "distance"] = "far"
    with s.serve() as server:
        status, body = server.post(bad)
        missing_status, missing = server.post(ROWS.drop(columns=["distance"]), csv=True)
        nested_status, nested = server.post({"rows": [{"distance": [1, 2]}]})
        junk_status, junk = server.request("POST", "/predict", b"{not json")
    assert status == 422 and "row 4" in body["error"] and "distance" in body["error"]
    assert "\n" not in body["error"]
    assert missing_status == 422 and "'distance'" in missing["error"]
    assert nested_status == 422 and "row 1: distance" in nested["error"]
    assert junk_status == 422 and "not valid JSON" in junk["error"]
    assert s.log().empty


def test_health_and_version_name_the_served_model_its_sha256_and_input_contract(s):
    with s.serve() as server:
        health = server.request("GET", "/health")
        version = server.request("GET", "/version")
    meta = bundles.read_meta(s.bundles[V2])
    assert health[0] == 200 and health[1]["model_version"] == V2
    assert version[0] == 200 and version[1]["version"] == V2
    assert version[1]["sha256"] == meta["sha256"]
    assert version[1]["input_schema"] == meta["input_schema"]
    assert version[1]["output"]["threshold"] == meta["threshold"], "the cut it labels rows at"


def test_a_body_over_the_bound_is_refused_with_413_unread(s):
    s.repo.set_params(**{"serve.max_body_bytes": 2048})
    try:
        with s.serve() as server:
            status, body = server.post(source_rows(200))
            small, _ = server.post(ROWS.head(1))
    finally:
        s.repo.set_params(**{"serve.max_body_bytes": 16 * 2**20})
    assert status == 413 and "serve.max_body_bytes" in body["error"], body
    assert small == 200


def test_the_server_follows_10_rollbacks_under_load_with_no_failed_request_and_each_version_true(
        s, monkeypatch):
    expected = {v: s.expected(v, ROWS) for v in (V1, V2)}
    answers: list[tuple[int, dict]] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def load(server: Server) -> None:
        try:
            while not done.is_set() and len(answers) < 20_000:
                answers.append(server.post(ROWS))
        except BaseException as exc:  # noqa: BLE001 - counted as a failed request
            errors.append(exc)

    with s.serve() as server:
        client = threading.Thread(target=load, args=(server,))
        client.start()
        for i in range(SWAPS):
            target = V1 if i % 2 == 0 else V2
            with monkeypatch.context() as m:  # `iterate rollback`, in this process: one import
                m.chdir(s.repo.path)
                assert cli.main(["rollback", target, "--reason", f"swap {i}"]) == 0
            deadline = time.monotonic() + 20
            while serving(server) != target and time.monotonic() < deadline:
                time.sleep(0.05)
        time.sleep(0.3)
        done.set()
        client.join(timeout=30)
    assert not errors
    assert answers and all(status == 200 for status, _ in answers)
    seen = []
    for _, body in answers:
        versions = {r["model_version"] for r in body["rows"]}
        assert len(versions) == 1
        version = versions.pop()
        probabilities = np.array([r["probability"] for r in body["rows"]])
        np.testing.assert_array_equal(probabilities, expected[version])
        if not seen or seen[-1] != version:
            seen.append(version)
    assert len(seen) >= SWAPS + 1  # every version the swaps brought in answered requests


def serving(server: Server) -> str:
    """The version the server says it serves (on a connection of its own)."""
    url = f"http://{server.host}:{server.port}/health"
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())["model_version"]


def test_a_sigkilled_server_leaves_only_whole_log_parts_and_loses_at_most_the_unflushed_rows(s):
    s.clear_log()
    rows_per_flush, requests = 50, 23
    s.repo.set_params(**{"serve.log_rows": rows_per_flush, "serve.log_seconds": 600.0})
    try:
        server = s.serve()
        returned = []
        for _ in range(requests):
            status, body = server.post(source_rows(10))
            assert status == 200
            returned += [r["prediction_id"] for r in body["rows"]]
        time.sleep(1.0)  # the writer takes each full buffer
        server.kill()
    finally:
        s.repo.set_params(**{"serve.log_rows": 10_000, "serve.log_seconds": 5.0})
    folder = s.repo.path / "data/predictions"
    parts = predlog.parts(folder=folder)
    frames = [pd.read_parquet(p) for p in parts]  # every part reads: none is torn
    logged = pd.concat(frames, ignore_index=True)
    assert set(logged["prediction_id"]) <= set(returned) and logged["prediction_id"].is_unique
    assert all(len(f) >= rows_per_flush for f in frames)
    assert len(returned) - len(logged) < rows_per_flush  # only the unflushed buffer is lost


def test_a_shadow_scores_every_request_logged_under_its_own_version_and_never_returned(s):
    s.clear_log()
    with s.serve("--shadow", str(s.bundles[V1])) as server:
        first = server.first_line
        answers = [server.post(ROWS)[1] for _ in range(3)]
    shadow_version = f"shadow-{bundles.read_meta(s.bundles[V1])['sha256'][:12]}"
    assert shadow_version in first
    returned = [r for a in answers for r in a["rows"]]
    assert {r["model_version"] for r in returned} == {V2}
    shadow = s.log(shadow_version)
    assert len(shadow) == len(returned)
    assert set(shadow["prediction_id"]) == {r["prediction_id"] for r in returned}
    np.testing.assert_array_equal(shadow["score"].to_numpy(),
                                  np.tile(s.expected(V1, ROWS), 3))
    assert (s.log(V2)["model_version"] == V2).all()  # production's parts hold its rows only


def test_a_tampered_model_is_refused_at_start_and_a_tampered_swap_keeps_the_old_model(s):
    model = s.repo.path / "models/production/model.skops"
    good = model.read_bytes()
    with s.serve() as server:
        model.write_bytes(b"\x80\x04not a model")
        time.sleep(1.0)
        status, body = server.post(ROWS)
        stderr = server.stop()
    try:
        refused = s.repo.iterate("serve", "--port", "0", check=False)
    finally:
        model.write_bytes(good)
    assert status == 200 and {r["model_version"] for r in body["rows"]} == {V2}
    assert f"keeping v{V2}" in stderr
    assert refused.returncode != 0 and "does not match" in refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1
