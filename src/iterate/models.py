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
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from iterate import atomic
from iterate.errors import IterateError
from iterate.params import Contract, Model

if TYPE_CHECKING:  # sklearn and pandas load only in the commands that fit or predict
    import pandas as pd
    from sklearn.pipeline import Pipeline

MODEL_FILE = "model.skops"
META_FILE = "model.json"
REFERENCE_FILE = "reference.parquet"  # a sample of the training rows, with the model's score
RELEASE_FILE = "release.json"  # written at promotion: the version and its holdout metrics
CLASSES = np.array([0, 1])
FIXED_TIME = (2000, 1, 1, 0, 0, 0)
ID_PATTERN = re.compile(r'"__id__": (\d+)|"(\d+)\.npy"')
TRUSTED_OUTSIDE_SKLEARN = frozenset({"functools.partial"})


@dataclass
class Bundle:
    pipeline: Pipeline
    meta: dict[str, Any] = field(default_factory=dict)
    reference: pd.DataFrame | None = None

    @property
    def kind(self) -> str:
        return self.meta["kind"]

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray:
        """Probability of the positive class for each row."""
        return self.pipeline.predict_proba(frame[self.meta["features"]])[:, 1]


def build(model: Model, contract: Contract) -> Pipeline:
    """An unfitted Pipeline of the contract's transformer and the chosen estimator."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import SGDClassifier
    from sklearn.pipeline import Pipeline

    from iterate import features

    settings = model.settings
    if model.kind == "hist_gradient_boosting":
        transformer, categorical = features.for_tree_model(contract)
        estimator = HistGradientBoostingClassifier(
            categorical_features=categorical or None, random_state=model.seed, **settings)
    else:
        transformer = features.for_linear_model(contract)
        estimator = SGDClassifier(loss="log_loss", random_state=model.seed, tol=None, **settings)
    return Pipeline([("features", transformer), ("estimator", estimator)])


def fit_full(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray) -> Pipeline:
    require_both_classes(y)
    return pipeline.fit(x, y)


def require_both_classes(y: np.ndarray) -> None:
    if len(np.unique(y)) < 2:
        raise IterateError("train: the training rows hold one class only; widen split.window "
                           "or land more batches")


def fit_incremental(pipeline: Pipeline, x: pd.DataFrame, y: np.ndarray) -> Pipeline:
    """Continue the final estimator with ``partial_fit`` on the frozen transformer's output."""
    estimator = pipeline[-1]
    if not hasattr(estimator, "partial_fit"):
        raise IterateError(
            f"train: {type(estimator).__name__} cannot learn incrementally; set "
            "train.mode: full (or model.kind: sgd_logistic) in params.yaml")
    estimator.partial_fit(pipeline[:-1].transform(x), y, classes=CLASSES)
    return pipeline


def input_schema(contract: Contract, pipeline: Pipeline, x: pd.DataFrame) -> dict[str, Any]:
    """What the model accepts: per column the contract's dtype, nullability and range, the
    categories its transformer knows and the range seen in training."""
    categories = _known_categories(pipeline)
    columns = {}
    for name, col in contract.columns.items():
        entry: dict[str, Any] = {"dtype": col.dtype, "nullable": col.nullable,
                                 "min": col.min, "max": col.max}
        if col.dtype == "category":
            entry["values"] = col.values
            entry["categories"] = categories.get(name, [])
        elif len(x) and x[name].notna().any():
            entry["seen_min"], entry["seen_max"] = float(x[name].min()), float(x[name].max())
        columns[name] = entry
    return columns


def _known_categories(pipeline: Pipeline) -> dict[str, list[str]]:
    transformer = pipeline.named_steps["features"]
    for name, step, columns in transformer.transformers_:
        if name == "categorical" and hasattr(step, "categories_"):
            return {c: sorted(str(v) for v in cats if isinstance(v, str))
                    for c, cats in zip(columns, step.categories_, strict=True)}
    return {}


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
