"""The server's parts without a server: the log buffer and the request body's rows."""

from __future__ import annotations

import threading
import time

import pandas as pd
import pytest

from iterate.errors import IterateError
from iterate.repo import predlog, serving


def log_rows(n: int, version: str = "1.0.0") -> pd.DataFrame:
    ids = predlog.new_ids(n)
    return predlog.rows(pd.DataFrame({"x": range(n)}), [0.5] * n, version, ids)


def parts(folder) -> list[pd.DataFrame]:
    return [pd.read_parquet(p) for p in predlog.parts(folder=folder)]


def test_the_log_is_written_as_one_part_each_time_the_buffer_holds_log_rows(tmp_path):
    buffer = serving.LogBuffer(rows=10, seconds=600, folder=tmp_path)
    for _ in range(7):
        buffer.add(log_rows(3))
    deadline = time.monotonic() + 10
    while len(predlog.parts(folder=tmp_path)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    written = sum(len(p) for p in parts(tmp_path))
    assert written >= 12 and all(len(p) >= 10 for p in parts(tmp_path))
    buffer.close()  # the rest on shutdown
    assert sum(len(p) for p in parts(tmp_path)) == 21


def test_the_log_is_written_after_log_seconds_however_few_rows(tmp_path):
    buffer = serving.LogBuffer(rows=1000, seconds=0.2, folder=tmp_path)
    buffer.add(log_rows(2))
    time.sleep(1.0)
    assert [len(p) for p in parts(tmp_path)] == [2]
    buffer.close()


def test_a_full_buffer_makes_the_next_add_wait_for_the_writer(tmp_path, monkeypatch):
    release = threading.Event()
    real = predlog.append
    monkeypatch.setattr(predlog, "append", lambda log, folder: (release.wait(10),
                                                               real(log, folder)))
    buffer = serving.LogBuffer(rows=5, seconds=600, folder=tmp_path)
    buffer.add(log_rows(5))  # taken by the writer, which is held
    time.sleep(0.2)
    buffer.add(log_rows(5))  # a full buffer waits
    third = threading.Thread(target=buffer.add, args=(log_rows(1),))
    third.start()
    third.join(0.5)
    assert third.is_alive()  # bounded memory: it waits
    release.set()
    third.join(10)
    assert not third.is_alive()
    buffer.close()
    assert sum(len(p) for p in parts(tmp_path)) == 11


def test_json_rows_come_as_an_object_with_rows_or_as_a_list():
    rows = [{"a": 1, "b": "x"}, {"a": None, "b": "y"}]
    for body in (b'{"rows": [{"a": 1, "b": "x"}, {"a": null, "b": "y"}]}',
                 b'[{"a": 1, "b": "x"}, {"a": null, "b": "y"}]'):
        frame = serving.rows_of(body, "application/json")
        assert frame.astype(object).where(frame.notna(), None).to_dict("records") == rows


def test_csv_rows_are_read_as_text_like_a_landed_file():
    frame = serving.rows_of(b"a,b\n007,x\n,y\n", "text/csv; charset=utf-8")
    assert frame["a"].tolist()[0] == "007" and pd.isna(frame["a"][1])


@pytest.mark.parametrize("body, problem", [
    (b"{oops", "not valid JSON"),
    (b'{"rows": 3}', "expected"),
    (b'[1, 2]', "row 1: expected an object"),
    (b'[{"a": 1}, {"a": {"b": 2}}]', "row 2: a: expected a number, a string or null"),
])
def test_a_malformed_body_is_refused_in_one_line_naming_the_row(body, problem):
    with pytest.raises(IterateError, match=problem) as caught:
        serving.rows_of(body, "application/json")
    assert "\n" not in str(caught.value)
