"""A real `iterate serve` process on 127.0.0.1 for the tests and the benchmark: start it, read
the address from its first line, send requests with http.client, stop or kill it."""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd

START_TIMEOUT = 60.0
ADDRESS = re.compile(r"on http://([\d.]+):(\d+)")


class Server:
    """``iterate serve --port 0 ARGS`` run in ``cwd``; ``with Server(...) as s: s.post(...)``."""

    def __init__(self, cwd: Path, *args: str, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "iterate.commands.cli", "serve", "--port", "0", *args],
            cwd=cwd, env=env or os.environ.copy(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()),
                         daemon=True).start()
        try:
            self.first_line = lines.get(timeout=START_TIMEOUT)
        except queue.Empty:
            self.kill()
            raise AssertionError("iterate serve printed no address in time") from None
        found = ADDRESS.search(self.first_line)
        if not found:
            self.proc.wait(timeout=30)
            raise AssertionError(f"iterate serve did not start: {self.first_line!r} "
                                 f"{self.proc.stderr.read()}")
        self.host, self.port = found[1], int(found[2])
        self._conn: http.client.HTTPConnection | None = None

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def request(self, method: str, path: str, body: bytes | None = None,
                content_type: str = "application/json") -> tuple[int, dict]:
        """One request on a kept-alive connection: (status, JSON body)."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        headers = {"Content-Type": content_type} if body is not None else {}
        self._conn.request(method, path, body=body, headers=headers)
        response = self._conn.getresponse()
        return response.status, json.loads(response.read())

    def post(self, rows: pd.DataFrame | list | dict, csv: bool = False) -> tuple[int, dict]:
        if csv:
            return self.request("POST", "/predict", rows.to_csv(index=False).encode(),
                                "text/csv")
        if isinstance(rows, pd.DataFrame):
            rows = {"rows": json_rows(rows)}
        return self.request("POST", "/predict", json.dumps(rows).encode())

    def stop(self) -> str:
        """SIGTERM (the server writes its buffered log) and wait; its stderr."""
        if self._conn is not None:
            self._conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        return self.proc.stderr.read()

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


def json_rows(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON objects (missing values as null)."""
    return frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
