"""Build, fit (full or incremental), save and safely load a model bundle.

A bundle is a folder: ``model.skops`` (the scikit-learn Pipeline, saved with skops so loading
never unpickles arbitrary code) and ``model.json`` (what it is, what it was trained on, its
input schema and output API, and the SHA-256 of ``model.skops``).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iterate.core.training import Bundle
from iterate.errors import IterateError
from iterate.repo import atomic

if TYPE_CHECKING:  # sklearn and pandas load only in the commands that fit or predict
    import pandas as pd
    from sklearn.pipeline import Pipeline

MODEL_FILE = "model.skops"
META_FILE = "model.json"
REFERENCE_FILE = "reference.parquet"  # a sample of the training rows, with the model's score
RELEASE_FILE = "release.json"  # written at promotion: the version and its holdout metrics
FIXED_TIME = (2000, 1, 1, 0, 0, 0)
ID_PATTERN = re.compile(r'"__id__": (\d+)|"(\d+)\.npy"')
TRUSTED_OUTSIDE_SKLEARN = frozenset({"functools.partial"})


def save(bundle: Bundle, folder: str | Path) -> None:
    """Write the bundle into ``folder`` (replacing what was there) atomically per file."""
    sio = skops_io()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    atomic.write_with(folder / MODEL_FILE,
                      lambda tmp: _dump_reproducibly(sio, bundle.pipeline, tmp))
    if bundle.reference is not None:
        reference = bundle.reference
        atomic.write_with(folder / REFERENCE_FILE,
                          lambda tmp: reference.to_parquet(tmp, index=False))
    meta = {**bundle.meta, "sha256": file_sha256(folder / MODEL_FILE)}
    atomic.write_text(folder / META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    bundle.meta = meta


def _dump_reproducibly(sio, pipeline: Pipeline, path: str) -> None:
    """skops names arrays by ``id()`` and stamps the time; rename and re-stamp them so the same
    model always gives the same bytes (and the same hash in dvc.lock)."""
    buffer = io.BytesIO()
    sio.dump(pipeline, buffer)
    with zipfile.ZipFile(buffer) as source:
        schema = source.read("schema.json").decode("utf-8")
        ids: dict[str, str] = {}
        for match in ID_PATTERN.finditer(schema):
            ids.setdefault(match[1] or match[2], str(len(ids)))
        schema = ID_PATTERN.sub(lambda m: m[0].replace(m[1] or m[2], ids[m[1] or m[2]]), schema)
        with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as target:
            target.writestr(zipfile.ZipInfo("schema.json", FIXED_TIME), schema)
            arrays = {}
            for name in source.namelist():
                stem = name.removesuffix(".npy")
                if name != "schema.json":
                    arrays[f"{ids[stem]}.npy" if stem in ids else name] = source.read(name)
            for name in sorted(arrays):
                target.writestr(zipfile.ZipInfo(name, FIXED_TIME), arrays[name])


def read_reference(folder: str | Path) -> pd.DataFrame | None:
    """The training reference sample saved with the bundle (None for bundles without one)."""
    import pandas as pd

    path = Path(folder) / REFERENCE_FILE
    return pd.read_parquet(path) if path.is_file() else None


def read_release(folder: str | Path) -> dict[str, Any] | None:
    path = Path(folder) / RELEASE_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def exists(folder: str | Path) -> bool:
    return (Path(folder) / META_FILE).is_file()


def read_meta(folder: str | Path) -> dict[str, Any]:
    return json.loads((Path(folder) / META_FILE).read_text(encoding="utf-8"))


def load(folder: str | Path, expected_sha256: str | None = None) -> Bundle:
    """Load a bundle after checking its bytes; refuse a file that is not what was saved.

    The SHA-256 must match ``model.json`` (and ``expected_sha256`` when given, e.g. from the
    registry), and skops must find no type outside scikit-learn's and numpy's.
    """
    sio = skops_io()
    folder = Path(folder)
    path = folder / MODEL_FILE
    if not exists(folder) or not path.is_file():
        raise IterateError(f"{folder}: no model bundle ({MODEL_FILE} + {META_FILE}) here")
    meta = read_meta(folder)
    actual = file_sha256(path)
    for label, wanted in (("model.json", meta.get("sha256")), ("the registry", expected_sha256)):
        if wanted is not None and wanted != actual:
            raise IterateError(
                f"{path}: SHA-256 {actual[:12]} does not match {label} ({wanted[:12]}); the file "
                "was changed after it was saved. Restore it with `dvc checkout` or "
                "`iterate rollback`")
    untrusted = [t for t in sio.get_untrusted_types(file=path) if not _is_trusted(t)]
    if untrusted:
        raise IterateError(f"{path}: holds types outside scikit-learn/numpy "
                           f"({', '.join(untrusted)}); refusing to load it")
    pipeline = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    return Bundle(pipeline=pipeline, meta=meta)


def skops_io():
    """``skops.io``, imported without its import-time scan of every scikit-learn estimator.

    That scan (about 1 s, a third of a stage's run) only builds skops' default trust list, which
    this module never relies on: :func:`load` checks every type itself (:func:`_is_trusted`) and
    passes the list explicitly. Loading imports just the types that the file names.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    import sklearn.utils

    scan = sklearn.utils.all_estimators
    sklearn.utils.all_estimators = lambda *args, **kwargs: []
    try:
        import skops.io
    finally:
        sklearn.utils.all_estimators = scan
    return skops.io


def _is_trusted(type_name: str) -> bool:
    return type_name in TRUSTED_OUTSIDE_SKLEARN or type_name.startswith(("sklearn.", "numpy."))


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
