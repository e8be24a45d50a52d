"""Build, fit (full or incremental), save and safely load a model bundle.

A bundle is a folder: ``model.skops`` (the scikit-learn Pipeline, saved with skops so loading
never unpickles arbitrary code) and ``model.json`` (what it is, what it was trained on, its
input schema and output API, and the SHA-256 of ``model.skops``).

Loading trusts nothing in the file. Before skops constructs any object, the archive's declared
sizes and array headers are checked against fixed bounds, and every node of its schema (each
class, function, type and how skops rebuilds it) must be on an exact allow-list: what the
pipeline that :func:`iterate.model.build` makes of the model params the bundle recorded holds,
found by building and fitting it on a few generated rows and reading its dump
(:func:`allow_list`). Nothing is matched by name prefix.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import math
import re
import sys
import zipfile
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from iterate import params
from iterate.core.training import Bundle
from iterate.errors import IterateError, ParamsError
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

# Bounds checked before anything is unpacked. The shipped models are far below them (the
# default HistGradientBoosting model, 200 trees of 31 leaves, is ~1 MB; 1,000 trees of 255
# leaves would be ~30 MB): the file on disk and everything its archive unpacks to, together,
# and model.json.
MAX_MODEL_BYTES = 256 * 2**20
MAX_META_BYTES = 16 * 2**20
# JSON values in schema.json (bounded by its '{', '[' and ',', strings' included), counted
# before it is parsed: 256 MiB of "[]," would parse to ~7 GB of Python lists, of "0.0," to
# ~2 GB of floats. The shipped pipelines hold a few thousand; a LightGBM text of 100,000
# features ~100,000 (its feature_infos)
MAX_SCHEMA_VALUES = 1_000_000
META_KEYS = {"sha256": str, "kind": str, "model_params": dict, "features": list, "label": str,
             "threshold": (int, float), "input_schema": dict, "output": dict,
             "seen": dict}
UNNAMED_NODES = frozenset({"JsonNode", "CachedNode"})  # plain JSON; a node already vetted: safe
REFERENCE_ROWS = 12  # rows of the generated frame the reference pipeline is fitted on
FREQUENT_ROWS = 8  # of which hold a category's first value (the others are infrequent ones)
# The reference fit's iterations and ensemble size: more make more trees or epochs, not new types
REFERENCE_SIZES = {"max_iter": 1, "n_estimators": 1}


@dataclasses.dataclass(frozen=True)
class AllowList:
    """What one configured model holds: skops' protocol and its (loader, name) nodes; ``kind``
    names its classifier."""

    kind: str
    protocol: int
    nodes: frozenset[tuple[str, str]]


_ALLOW_LISTS: dict[str, AllowList] = {}  # per (model params, input columns), in this process


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
    meta = {**bundle.meta, "sha256": file_sha256(folder / MODEL_FILE), "code_sha256": code()}
    atomic.write_text(folder / META_FILE, json.dumps(meta, indent=2, sort_keys=True) + "\n")
    bundle.meta = meta
    # Keep the allow-list of the code that built it on this machine, so the model still loads
    # after that code (model.py) is edited: see :func:`allow_list`.
    allow_list(_model(meta["model_params"], str(folder / META_FILE)), meta["input_schema"],
               meta["label"])


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
    """``model.json``, refused in one line when it is not the metadata :func:`save` writes."""
    path = Path(folder) / META_FILE
    fix = "restore the bundle with `dvc checkout` or retrain it with `dvc repro`"
    if path.stat().st_size > MAX_META_BYTES:
        raise IterateError(f"{path}: larger than {MAX_META_BYTES >> 20} MiB; {fix}")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise IterateError(f"{path}: not valid JSON ({_first_line(exc)}); {fix}") from None
    if not isinstance(meta, dict):
        raise IterateError(f"{path}: not a JSON object; {fix}")
    for key, kind in META_KEYS.items():
        if not isinstance(meta.get(key), kind) or isinstance(meta.get(key), bool):
            problem = "missing" if key not in meta else f"not a {_type_name(kind)}"
            raise IterateError(f"{path}: key {key!r} is {problem}; {fix}")
    if not re.fullmatch(r"[0-9a-f]{64}", meta["sha256"]):
        raise IterateError(f"{path}: sha256 is not a SHA-256 in hex; {fix}")
    return meta


def load(folder: str | Path) -> Bundle:
    """Load a bundle the pipeline made (the candidate, or a stage's copy of production).

    Its bytes must match its ``model.json``, and the file may hold only what the model params
    ``model.json`` records are built of (validated like params.yaml's ``model``; the estimator
    must be a scikit-learn classifier class, see :func:`iterate.core.estimators.resolve`).
    """
    folder = _bundle_folder(folder)
    meta = read_meta(folder)
    where = f"{folder / META_FILE}: model_params"
    return _load(folder, meta, None, _model(meta["model_params"], where), where)


def load_registered(folder: str | Path, entry: dict[str, Any]) -> Bundle:
    """Load the bundle that the registry ``entry`` (the newest, for production) recorded.

    Its bytes must match the entry's SHA-256 as well as its ``model.json``, and the allow-list
    comes from the model params the entry recorded at promotion, not from the bundle.
    """
    folder = _bundle_folder(folder)
    where = f"models/registry.yaml: the entry of v{entry.get('version')}"
    sha, recorded = entry.get("model_sha256"), entry.get("model_params")
    if not isinstance(sha, str) or not isinstance(recorded, dict):
        raise IterateError(f"{where} lacks model_sha256 or model_params; restore the registry "
                           "with `git checkout models/registry.yaml`")
    meta = read_meta(folder)
    where += ": model_params"
    return _load(folder, meta, sha, _model(recorded, where), where)


def _bundle_folder(folder: str | Path) -> Path:
    folder = Path(folder)
    if not exists(folder) or not (folder / MODEL_FILE).is_file():
        raise IterateError(f"{folder}: no model bundle ({MODEL_FILE} + {META_FILE}) here")
    return folder


def _load(folder: Path, meta: dict[str, Any], registered: str | None,
          model: params.Model, where: str) -> Bundle:
    path = folder / MODEL_FILE
    with path.open("rb") as file:  # read once: every check below is of these bytes
        data = file.read(MAX_MODEL_BYTES + 1)
    if len(data) > MAX_MODEL_BYTES:
        raise IterateError(f"{path}: larger than {MAX_MODEL_BYTES >> 20} MiB, more than any "
                           "model iterate makes; refusing to load it")
    actual = hashlib.sha256(data).hexdigest()
    for label, wanted in (("model.json", meta["sha256"]), ("the registry", registered)):
        if wanted is not None and wanted != actual:
            raise IterateError(
                f"{path}: SHA-256 {actual[:12]} does not match {label} ({wanted[:12]}); the file "
                "was changed after it was saved. Restore it with `dvc checkout` or "
                "`iterate rollback`")
    schema = _vet_archive(path, data)
    try:
        allowed = allow_list(model, meta["input_schema"], meta["label"],
                             _recorded_code(meta, path))
    except IterateError as exc:
        raise IterateError(f"{where}: {exc}; refusing to load the model") from None
    _vet_schema(path, schema, allowed)
    sio = skops_io()
    trusted = sorted({name for _, name in allowed.nodes if name})
    try:
        pipeline = sio.loads(data, trusted=trusted)
    except Exception as exc:  # noqa: BLE001 - vetted, yet not loadable: a corrupt file
        raise IterateError(f"{path}: cannot be loaded ({type(exc).__name__}: "
                           f"{_first_line(exc)}); restore it with `dvc checkout`") from None
    from sklearn.pipeline import Pipeline

    if not isinstance(pipeline, Pipeline) or not len(pipeline):
        raise IterateError(f"{path}: holds a {type(pipeline).__name__}, not the scikit-learn "
                           "Pipeline iterate saves; refusing to load it (retrain with `dvc "
                           "repro`, or restore the file with `dvc checkout`)")
    _check_booster(path, pipeline)
    return Bundle(pipeline=pipeline, meta=meta)


def _check_booster(path: Path, pipeline: Pipeline) -> None:
    """A LightGBM classifier's text model, checked (size, header, every tree) before LightGBM
    parses it (:meth:`iterate.core.boosting.LightGBMClassifier.check_loaded`)."""
    from iterate.core import boosting

    final = pipeline[-1]
    if isinstance(final, boosting.LightGBMClassifier):
        try:
            width, declared = _width_before(pipeline), final.__dict__.get("n_features_in_")
            if width is not None and declared is not None and width != declared:
                raise boosting.ModelTextError(f"takes {declared!r} inputs, but the pipeline's "
                                              f"features are {width}")
            final.check_loaded()
        except (boosting.ModelTextError, ValueError) as exc:
            raise IterateError(f"{path}: its LightGBM model {_first_line(exc)}; refusing to "
                               "load it (retrain with `dvc repro`, or restore the file with "
                               "`dvc checkout`)") from None


def _width_before(pipeline: Pipeline) -> int | None:
    """How many features the steps before the classifier make (None: they do not say)."""
    try:
        return len(pipeline[:-1].get_feature_names_out())
    except Exception:  # noqa: BLE001 - a step without feature names: nothing to compare
        return None


def _vet_archive(path: Path, data: bytes) -> Any:
    """The parsed ``schema.json`` of ``data``, once the archive is known to be a skops file
    whose members, declared sizes and array headers stay within :data:`MAX_MODEL_BYTES`."""
    def refuse(problem: str) -> IterateError:
        return IterateError(f"{path}: {problem}; refusing to load it")

    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise refuse("not a skops file (a zip archive), e.g. a pickle; a model file must be "
                     "written by iterate") from None
    names = [m.filename for m in members]
    if len(set(names)) != len(names) or "schema.json" not in names:
        raise refuse("not a skops archive (no schema.json, or a member twice)")
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_MODEL_BYTES:
        raise refuse(f"its archive unpacks to {unpacked} bytes, more than the "
                     f"{MAX_MODEL_BYTES >> 20} MiB any model iterate makes can need")
    for member in members:
        if member.filename != "schema.json":
            if not re.fullmatch(r"\d+\.npy", member.filename):
                raise refuse(f"holds a member {member.filename!r} that no iterate model has")
            with archive.open(member) as array:
                _vet_array_header(array, member, refuse)
    try:
        text = archive.read("schema.json")
    except (zipfile.BadZipFile, ValueError, EOFError) as exc:
        raise refuse(f"its schema.json cannot be read ({_first_line(exc)})") from None
    values = text.count(b"{") + text.count(b"[") + text.count(b",")
    if values > MAX_SCHEMA_VALUES:
        raise refuse(f"its schema.json holds up to {values} JSON values, more than the "
                     f"{MAX_SCHEMA_VALUES} any model iterate makes can need")
    try:
        schema = json.loads(text)
    except (zipfile.BadZipFile, ValueError, RecursionError, EOFError) as exc:
        raise refuse(f"its schema.json is not valid JSON ({_first_line(exc)})") from None
    if not isinstance(schema, dict):
        raise refuse("its schema.json is not a JSON object")
    _vet_references(schema, {m.filename: m.file_size for m in members}, refuse)
    return schema


def _vet_array_header(array: IO[bytes], member: zipfile.ZipInfo, refuse) -> None:
    """An array member must hold exactly the data its header declares (numpy would allocate
    what the header declares first), and no Python objects."""
    import numpy as np

    fmt = np.lib.format
    readers = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}
    try:
        version = fmt.read_magic(array)
        if version not in readers:
            raise ValueError(f"format version {version} is not one numpy writes by default")
        shape, _, dtype = readers[version](array)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise refuse(f"its array {member.filename} has no valid header "
                     f"({_first_line(exc)})") from None
    if dtype.hasobject:
        raise refuse(f"its array {member.filename} holds Python objects")
    declared = math.prod(int(n) for n in shape) * dtype.itemsize
    if declared != member.file_size - array.tell():
        raise refuse(f"its array {member.filename} declares {declared} bytes of data but "
                     f"holds {member.file_size - array.tell()}")


def _vet_references(schema: dict, sizes: dict[str, int], refuse) -> None:
    """Every member a node reads must exist, and all reads together stay within the bound (a
    node naming one big member many times would copy it as often)."""
    total = 0
    for node in _nodes(schema):
        name = node.get("file")
        if name is not None:
            if not isinstance(name, str) or name not in sizes:
                raise refuse(f"its schema names a member {name!r} it does not hold")
            total += sizes[name]
    if total > MAX_MODEL_BYTES:
        raise refuse(f"its schema reads {total} bytes of arrays, more than the "
                     f"{MAX_MODEL_BYTES >> 20} MiB any model iterate makes can need")


def _vet_schema(path: Path, schema: dict, allowed: AllowList) -> None:
    """Refuse, naming it, the first node that the configured model's Pipeline does not hold."""
    if schema.get("protocol") != allowed.protocol:
        raise IterateError(f"{path}: written with skops protocol {schema.get('protocol')!r}, "
                           f"not {allowed.protocol} as iterate writes; refusing to load it")
    found = {_identify(node) for node in _nodes(schema)} - {(n, "") for n in UNNAMED_NODES}
    known = {n for _, n in allowed.nodes}
    unlisted = sorted(found - allowed.nodes, key=lambda node: (node[1] in known, node))
    if unlisted:  # first a name not on the list at all, then a listed name rebuilt otherwise
        loader, name = unlisted[0]
        what = name if name not in known else f"{name} rebuilt by a skops {loader}"
        more = f" (and {len(unlisted) - 1} more)" if len(unlisted) > 1 else ""
        raise IterateError(f"{path}: holds {what}{more}, which the model ({allowed.kind}) is not "
                           "built of; refusing to load it (retrain with `dvc repro`, or restore "
                           "the file with `dvc checkout`)")


def _nodes(schema: Any):
    """Every node of a skops schema: each dict with a ``__loader__``, however deep."""
    stack = [schema]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "__loader__" in item:
                yield item
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _identify(node: dict) -> tuple[str, str]:
    """(loader, the name it resolves): what skops imports, calls or builds for ``node``."""
    loader, module, name = node["__loader__"], node.get("__module__"), node.get("__class__")
    if isinstance(loader, str) and loader in UNNAMED_NODES:
        return loader, ""
    if not isinstance(loader, str) or not isinstance(module, str) or not isinstance(name, str):
        return str(loader), f"a malformed node {str(node)[:80]!r}"
    full = f"{module}.{name}"
    content = node.get("content")
    if loader == "MethodNode":  # a bound method: the attribute of its object that it gets
        full += f".{content.get('func') if isinstance(content, dict) else None}"
    elif loader == "RandomGeneratorNode":  # the bit generator numpy.random builds by name
        full += f"[{_bit_generator(content)}]"
    return loader, full


def _bit_generator(content: Any) -> str | None:
    try:
        return json.loads(content["bit_generator"]["content"]["bit_generator"]["content"])
    except (KeyError, TypeError, ValueError):
        return None


def allow_list(model: params.Model, input_schema: dict[str, Any], label: str,
               built_by: list[str] | None = None) -> AllowList:
    """Every (loader, name) node that the pipeline of ``model`` holds, for inputs like
    ``input_schema``: the pipeline built as training builds it (:func:`iterate.model.build`),
    fitted (and updated incrementally, when its classifier can) on a few generated rows of both
    classes, dumped with skops in memory and read node by node.

    Derived once per machine and kept in the user's cache folder (:func:`cache_dir`), keyed by
    everything the derivation reads: the model params, the input columns, the source of the
    code that builds the pipeline (``model.py`` included, :func:`code`) and the versions of
    the libraries whose types it holds. The cache lies outside the repository, so nothing a
    commit, a pull or a model file brings can widen it; an unreadable entry is derived again.

    A model ``built_by`` other code than this checkout's (``model.py`` edited since it was
    trained) loads with the list that code derived when it saved the model on this machine;
    that list cannot be derived again here, so without it the model is refused.
    """
    contract = _contract(input_schema, label)
    current = code()
    key = _allow_list_key(model, contract, built_by or current)
    if key not in _ALLOW_LISTS:
        cached = cache_dir() / f"allow-list-{key}.json"
        allowed = _read_allow_list(cached)
        if allowed is None and built_by not in (None, current):
            raise IterateError(
                "it was built by other model code (src/iterate/model.py or core/) than this "
                f"checkout's, and {cache_dir()} holds no allow-list of that code; load it once "
                "in a checkout of the commit that trained it (e.g. `iterate predict`), or "
                "train a new model from this code")
        if allowed is None:
            allowed = _derive(model, contract)
            _write_allow_list(cached, allowed)
        _ALLOW_LISTS[key] = allowed
    return _ALLOW_LISTS[key]


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/iterate`` (default ``~/.cache/iterate``): this machine's derived
    allow-lists."""
    import os

    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "iterate"


_CODE: list[str] = []


def code() -> list[str]:
    """The SHA-256 of each source file that builds a pipeline (features, training, estimators,
    ``model.py``): what a bundle records as the code that built it."""
    if not _CODE:
        from iterate import model as model_file
        from iterate.core import estimators, features, training

        _CODE.extend(hashlib.sha256(Path(module.__file__).read_bytes()).hexdigest()
                     for module in (features, training, estimators, model_file))
    return list(_CODE)


def _recorded_code(meta: dict[str, Any], path: Path) -> list[str] | None:
    """The code a bundle's ``model.json`` says built it (none recorded: this checkout's)."""
    recorded = meta.get("code_sha256")
    if recorded is None:
        return None
    if (not isinstance(recorded, list) or len(recorded) != len(code())
            or not all(isinstance(h, str) and re.fullmatch(r"[0-9a-f]{64}", h)
                       for h in recorded)):
        raise IterateError(f"{path.parent / META_FILE}: code_sha256 is not a list of "
                           f"{len(code())} SHA-256s; restore it with `dvc checkout`")
    return recorded


def _allow_list_key(model: params.Model, contract: params.Contract,
                    built_by: list[str] | None = None) -> str:
    from importlib import metadata

    versions = {name: metadata.version(name) for name in ("scikit-learn", "skops", "numpy",
                                                          "scipy", "pandas")}
    text = json.dumps([params.asdict(model), params.asdict(contract), versions, sys.version,
                       built_by or code(), REFERENCE_ROWS, FREQUENT_ROWS, REFERENCE_SIZES],
                      sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_allow_list(path: Path) -> AllowList | None:
    try:
        raw = json.loads(path.read_text())
        nodes = frozenset((str(loader), str(name)) for loader, name in raw["nodes"])
        if not isinstance(raw["kind"], str) or not isinstance(raw["protocol"], int) or not nodes:
            return None
        return AllowList(kind=raw["kind"], protocol=raw["protocol"], nodes=nodes)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_allow_list(path: Path, allowed: AllowList) -> None:
    """Best effort: a read-only or full cache folder only costs the next process a derivation."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic.write_text(path, json.dumps({"kind": allowed.kind, "protocol": allowed.protocol,
                                            "nodes": sorted(allowed.nodes)}, indent=0))
    except OSError:
        pass


def _derive(model: params.Model, contract: params.Contract) -> AllowList:
    import warnings

    from iterate.core import estimators, training

    pipeline = training.build(model, contract)
    final = pipeline[-1]
    final.set_params(**{k: n for k, n in REFERENCE_SIZES.items()
                        if isinstance(final.get_params(deep=False).get(k), int)})
    x, y = _reference_rows(contract)
    with warnings.catch_warnings():  # 12 rows, one iteration: convergence warnings, no news
        warnings.simplefilter("ignore")
        dumps = [_dump_schema(training.fit_built(pipeline, x, y, model.seed))]
        if estimators.learns_incrementally(pipeline):
            dumps.append(_dump_schema(training.fit_incremental(pipeline, x, y)))
    nodes = frozenset(_identify(node) for schema in dumps for node in _nodes(schema))
    return AllowList(kind=estimators.label(pipeline), protocol=dumps[0]["protocol"],
                     nodes=nodes)


def _dump_schema(pipeline: Pipeline) -> dict:
    buffer = io.BytesIO(skops_io().dumps(pipeline))
    with zipfile.ZipFile(buffer) as archive:
        return json.loads(archive.read("schema.json"))


def _reference_rows(contract: params.Contract):
    """A few typed rows like the contract's: numbers across their range (missing in nullable
    columns), one frequent and some infrequent value per category, alternating labels."""
    import numpy as np
    import pandas as pd

    n, columns = REFERENCE_ROWS, {}
    for name, col in contract.columns.items():
        if col.dtype == "category":
            values = col.values or ["a", "b", "c"]
            columns[name] = [values[0] if i < FREQUENT_ROWS else values[i % len(values)]
                             for i in range(n)]
            continue
        low = 0.0 if col.min is None else col.min
        high = low + 100.0 if col.max is None else col.max
        numbers = np.linspace(low, high, n)
        if col.nullable:
            numbers[::4] = np.nan
        elif col.dtype == "int":
            numbers = np.round(numbers).astype("int64")
        columns[name] = numbers
    return pd.DataFrame(columns), np.arange(n) % 2


def _model(raw: dict[str, Any], where: str) -> params.Model:
    """The model params a bundle or registry entry recorded, validated as params.yaml's, its
    estimator a scikit-learn classifier class (nothing of it is called before)."""
    from iterate.core import estimators

    try:
        model = params.parse_section(params.Model, raw, "model")
        estimators.resolve(model.estimator)
    except (ParamsError, IterateError) as exc:
        raise IterateError(f"{where}: {str(exc).removeprefix('params.yaml: ')}; refusing to "
                           "load the model") from None
    return model


def _contract(input_schema: dict[str, Any], label: str) -> params.Contract:
    """The input columns a bundle's ``input_schema`` describes, validated as the contract's."""
    try:
        columns = {str(name): params.parse_section(params.Column, {
            k: spec.get(k) for k in ("dtype", "nullable", "min", "max", "values")
            if spec.get(k) is not None} if isinstance(spec, dict) else spec,
            f"input_schema.{name}") for name, spec in input_schema.items()}
    except ParamsError as exc:
        raise IterateError(f"{META_FILE}: {str(exc).removeprefix('params.yaml: ')}; "
                           "refusing to load the model") from None
    if not columns:
        raise IterateError(f"{META_FILE}: input_schema names no column; refusing to load the "
                           "model")
    return params.Contract(time_column="", label=label, columns=columns)


def skops_io():
    """``skops.io``, imported without its import-time scan of every scikit-learn estimator.

    That scan (about 1 s, a third of a stage's run) only builds skops' default trust list, which
    this module never relies on: :func:`load` checks every node against its own allow-list
    first. Loading imports just the types that the file names.
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


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", dict: "mapping", list: "list", int: "number", float: "number"}
    return names[kind[0] if isinstance(kind, tuple) else kind]


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
