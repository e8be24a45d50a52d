"""``iterate serve``: the production model behind HTTP (FastAPI on uvicorn).

Three pieces run beside the requests, none on their path:

- :class:`Watcher` stats the registry and production's model file every ``watch_seconds``;
  when they change it loads the new version with the registry-checked loader in its own thread
  and swaps one immutable :class:`Served` reference. A request reads that reference once, so
  the version it reports is the model that scored it. A load that fails (a promotion half
  done, a tampered file) keeps the old model and is retried on the next tick.
- :class:`LogBuffer` gathers the prediction log's rows and writes them through
  :func:`predlog.append`, one atomic part every ``log_rows`` rows or ``log_seconds`` seconds
  and on shutdown; a request waits only while a whole buffer is already waiting to be written.
- :class:`Shadow` scores each request with a second model in its own thread, from a bounded
  queue, and logs its rows (same ``prediction_id``, its own ``model_version``) in parts of
  their own; it never answers, and when it falls behind a request is skipped and counted.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import queue
import socket
import sys
import threading
from collections.abc import Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pandas as pd
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from iterate.core import outcomes, training
from iterate.errors import IterateError
from iterate.params import Serve
from iterate.repo import bundles, landing, predlog, scoring
from iterate.repo.layout import PREDICTIONS, PRODUCTION, REGISTRY

OUTPUT = ["prediction_id", "probability", "predicted_label", "model_version"]
SHADOW_QUEUE = 64  # requests waiting for the shadow; beyond, a request is skipped (counted)
SCALARS = (str, int, float, bool, type(None))


@dataclasses.dataclass(frozen=True)
class Served:
    """One loaded model: what scores a request, and the version its rows are labelled with."""

    bundle: training.Bundle
    version: str

    @property
    def sha256(self) -> str:
        return self.bundle.meta["sha256"]


def warn(text: str) -> None:
    print(f"serve: {text}", file=sys.stderr, flush=True)


class Watcher:
    """Production as the registry names it, reloaded off the request path when it changes."""

    def __init__(self, every: float, load: Callable[[], tuple[training.Bundle, str]] = (
            scoring.production_bundle)):
        self.every, self._load = every, load
        self._stop = threading.Event()
        self._seen = self._signature()
        self.current = Served(*load())  # at start a failure is the command's error
        self.swaps = 0
        self._thread = threading.Thread(target=self._run, name="serve-watch", daemon=True)

    @staticmethod
    def _signature() -> tuple:
        """What changes whenever promote or rollback rewrites the registry or production."""
        out = []
        for path in (REGISTRY, PRODUCTION / bundles.MODEL_FILE):
            try:
                s = os.stat(path)
                out.append((s.st_ino, s.st_mtime_ns, s.st_size))
            except FileNotFoundError:
                out.append(None)
        return tuple(out)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        told = None
        while not self._stop.wait(self.every):
            seen = self._signature()
            if seen == self._seen:
                continue
            try:
                bundle, version = self._load()
            except IterateError as exc:  # half-way through a promotion, or refused: keep serving
                if str(exc) != told:
                    warn(f"keeping v{self.current.version}: {exc}")
                    told = str(exc)
                continue
            told, self._seen = None, seen
            if (version, bundle.meta["sha256"]) != (self.current.version, self.current.sha256):
                self.current = Served(bundle, version)  # one reference: the swap
                self.swaps += 1
                warn(f"now serving v{version}")


class LogBuffer:
    """Prediction-log rows kept in memory and written as one part per flush."""

    def __init__(self, rows: int, seconds: float, folder: Path = PREDICTIONS):
        self.rows, self.seconds, self.folder = rows, seconds, folder
        self._frames: list[pd.DataFrame] = []
        self._count = 0
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="serve-log", daemon=True)
        self._thread.start()

    def add(self, frame: pd.DataFrame) -> None:
        """Buffer ``frame``; waits while a full buffer waits for the writer (bounded memory)."""
        with self._cond:
            self._cond.wait_for(lambda: self._count < self.rows or self._closed)
            self._frames.append(frame)
            self._count += len(frame)
            if self._count >= self.rows:
                self._cond.notify_all()

    def close(self) -> None:
        """Write what is buffered and stop the writer."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._count >= self.rows or self._closed,
                                    timeout=self.seconds)
                frames, closing = self._frames, self._closed
                self._frames, self._count = [], 0
                self._cond.notify_all()
            if frames:
                try:
                    predlog.append(pd.concat(frames, ignore_index=True), self.folder)
                except (OSError, ValueError) as exc:  # e.g. a full disk: keep them, retry
                    warn(f"cannot write the prediction log ({exc}); retrying")
                    with self._cond:
                        self._frames[:0] = frames
                        self._count += sum(len(f) for f in frames)
                    if not closing:
                        continue
            if closing:
                return


class Shadow:
    """A second model that scores every request after it is answered, logged, never returned."""

    def __init__(self, folder: Path, rows: int, seconds: float):
        bundle = bundles.load(folder)  # bytes checked against model.json, types allow-listed
        self.served = Served(bundle, f"{outcomes.SHADOW_PREFIX}{bundle.meta['sha256'][:12]}")
        self.log = LogBuffer(rows, seconds)  # parts of its own: production's stay pure
        self.skipped = self.failed = 0
        self._queue: queue.Queue = queue.Queue(maxsize=SHADOW_QUEUE)
        self._thread = threading.Thread(target=self._run, name="serve-shadow", daemon=True)
        self._thread.start()

    def submit(self, frame: pd.DataFrame, ids: list[str]) -> None:
        try:
            self._queue.put_nowait((frame, ids))
        except queue.Full:
            self.skipped += 1

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self.log.close()

    def _run(self) -> None:
        while (item := self._queue.get()) is not None:
            frame, ids = item
            try:
                _, log = scoring.score(self.served.bundle, self.served.version, frame, "shadow")
            except IterateError:  # rows production accepts that the shadow's contract refuses
                self.failed += 1
                continue
            log[predlog.PREDICTION_ID] = ids  # the served prediction's ID: labels join both
            self.log.add(log)


def rows_of(body: bytes, content_type: str) -> pd.DataFrame:
    """The rows of a request body: CSV (``text/csv``) or JSON, ``{"rows": [...]}`` or a list
    of objects. Malformed input raises :class:`IterateError` in one line."""
    if content_type.split(";")[0].strip().lower() == "text/csv":
        try:
            return pd.read_csv(io.BytesIO(body), on_bad_lines="error", **landing.CSV_OPTIONS)
        except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError,
                ValueError) as exc:
            raise IterateError(f"request: not CSV with a header row ({_first_line(exc)})") \
                from None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise IterateError(f"request: not valid JSON ({_first_line(exc)}); send "
                           '{"rows": [{...}]} or text/csv') from None
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise IterateError('request: expected {"rows": [{...}, ...]} or a list of objects')
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise IterateError(f"request: row {i + 1}: expected an object of column: value")
        for name, value in row.items():
            if not isinstance(value, SCALARS):
                raise IterateError(f"request: row {i + 1}: {name}: expected a number, a string "
                                   f"or null, got {type(value).__name__}")
    return pd.DataFrame.from_records(rows)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def create_app(settings: Serve, watcher: Watcher, log: LogBuffer, shadow: Shadow | None = None,
               keep: list[str] | tuple[str, ...] = ()):
    """The ASGI app; it starts the watcher and flushes the log with the server's lifespan."""
    @asynccontextmanager
    async def lifespan(_app):
        watcher.start()
        try:
            yield
        finally:
            watcher.stop()
            if shadow is not None:
                shadow.close()
            log.close()

    app = FastAPI(title="iterate", lifespan=lifespan, docs_url=None, redoc_url=None,
                  openapi_url=None)

    def refuse(status: int, text: str) -> JSONResponse:
        return JSONResponse({"error": text}, status_code=status)

    def predict(body: bytes, content_type: str) -> bytes:
        served = watcher.current  # read once: this model scores, and its version is reported
        frame = rows_of(body, content_type)
        scored, rows = scoring.score(served.bundle, served.version, frame, "request", keep)
        log.add(rows)
        if shadow is not None:
            shadow.submit(frame, rows[predlog.PREDICTION_ID].tolist())
        out = scored[OUTPUT]
        return json.dumps({"rows": [
            {"prediction_id": i, "probability": float(p), "predicted_label": int(lab),
             "model_version": v} for i, p, lab, v in zip(*(out[c] for c in OUTPUT),
                                                        strict=True)]}).encode()

    @app.post("/predict")
    async def post_predict(request: Request):
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or
                                     int(declared) > settings.max_body_bytes):
            return refuse(413, f"request: body larger than serve.max_body_bytes "
                               f"({settings.max_body_bytes} bytes); send fewer rows per request")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > settings.max_body_bytes:
                return refuse(413, f"request: body larger than serve.max_body_bytes "
                                   f"({settings.max_body_bytes} bytes); send fewer rows per "
                                   "request")
        try:
            content = await run_in_threadpool(predict, bytes(body),
                                              request.headers.get("content-type", ""))
        except IterateError as exc:  # the contract or the format: nothing was logged
            return refuse(422, str(exc))
        return Response(content, media_type="application/json")

    @app.get("/health")
    def health():
        return {"status": "ok", "model_version": watcher.current.version,
                "swaps": watcher.swaps,
                "shadow": None if shadow is None else {
                    "model_version": shadow.served.version, "skipped": shadow.skipped,
                    "refused": shadow.failed}}

    @app.get("/version")
    def version():
        served = watcher.current
        meta = served.bundle.meta
        return {"version": served.version, "sha256": served.sha256,
                "features": meta["features"], "input_schema": meta["input_schema"],
                "output": meta["output"],
                "shadow": None if shadow is None else {"version": shadow.served.version,
                                                       "sha256": shadow.served.sha256}}

    return app


def bind(host: str, port: int) -> socket.socket:
    """A listening socket (port 0: the OS chooses), so the address can be told before serving."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise IterateError(f"serve: cannot listen on {host}:{port} ({exc.strerror}); choose "
                           "another --port (0: any free one)") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(settings: Serve, keep: list[str] | tuple[str, ...] = ()) -> None:
    """Load production (and the shadow), listen, print one line with the address, serve until
    SIGINT or SIGTERM, then write the buffered log; the log keeps the request columns ``keep``
    besides the features (what a labelled row needs to land: ``scoring.logged_context``)."""
    import uvicorn

    watcher = Watcher(settings.watch_seconds)
    log = LogBuffer(settings.log_rows, settings.log_seconds)
    try:
        shadow = None
        if settings.shadow:
            shadow = Shadow(Path(settings.shadow), settings.log_rows, settings.log_seconds)
        sock = bind(settings.host, settings.port)
    except IterateError:
        log.close()
        raise
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    extra = f", shadow {shadow.served.version}" if shadow else ""
    print(f"serving v{watcher.current.version} on http://{shown}:{port}{extra}", flush=True)
    app = create_app(settings, watcher, log, shadow, keep)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])
