"""Read params.yaml once into typed, validated dataclasses.

Every command and stage goes through :func:`load`. An unknown key, a wrong type or an
impossible combination raises :class:`~iterate.errors.ParamsError` naming the key, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from iterate import yamlfile
from iterate.errors import ParamsError

DEFAULT_PATH = Path("params.yaml")
DOTTED_PATH = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)+")
COUNT_MAX = 10**12  # row counts: beyond any table this runs on
SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit


def _within(low: float | None, high: float | None, *, low_open: bool = False,
            high_open: bool = False, why: str = "") -> dict[str, Any]:
    """Field metadata: the number must lie between ``low`` and ``high`` (checked at load)."""
    return {"within": (low, high, low_open, high_open, why)}


def _check_within(value: Any, within: tuple, key: str) -> None:
    low, high, low_open, high_open, why = within
    if not isinstance(value, int | float) or isinstance(value, bool):
        return  # "all", None: the field's other options
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if not (too_low or too_high):
        return
    if low is not None and high is not None:
        ends = {(False, False): "", (True, True): " (exclusive)",
                (True, False): f" ({_num(low)} excluded)",
                (False, True): f" ({_num(high)} excluded)"}
        rule = f"between {_num(low)} and {_num(high)}{ends[low_open, high_open]}"
    elif low is not None:
        rule = f"{'>' if low_open else '>='} {_num(low)}"
    else:
        rule = f"{'<' if high_open else '<='} {_num(high)}"
    raise ParamsError(key, f"must be {rule}{f' ({why})' if why else ''}, got {_num(value)}")


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(x)


@dataclass(frozen=True)
class Replay:
    source: str
    batch_days: int = field(default=7, metadata=_within(1, 3660))
    warmup_batches: int = field(default=4, metadata=_within(
        2, 10_000, why="training batches + holdout"))
    iterations: int = field(default=6, metadata=_within(1, 100_000))
    commit: bool = True


@dataclass(frozen=True)
class Column:
    dtype: Literal["int", "float", "category"]
    nullable: bool = False
    min: float | None = None
    max: float | None = None
    values: list[str] | None = None


@dataclass(frozen=True)
class Contract:
    time_column: str
    label: str
    columns: dict[str, Column]
    classes: list[int] = field(default_factory=lambda: [0, 1])
    max_bad_share: float = field(default=0.2, metadata=_within(0, 1))
    min_rows: int = field(default=50, metadata=_within(1, COUNT_MAX))
    extra_columns: Literal["refuse", "drop"] = "refuse"
    timezone: str = "UTC"  # the zone of time values that carry none (dates, wall-clock times)

    @property
    def features(self) -> list[str]:
        return list(self.columns)

    def of_dtype(self, dtype: str) -> list[str]:
        return [name for name, col in self.columns.items() if col.dtype == dtype]


@dataclass(frozen=True)
class Split:
    window: int | Literal["all"] = field(default=8, metadata=_within(None, 100_000))
    min_train_rows: int = field(default=1000, metadata=_within(1, COUNT_MAX))


DEFAULT_ESTIMATOR = "sklearn.ensemble.HistGradientBoostingClassifier"


@dataclass(frozen=True)
class Model:
    """The model :func:`iterate.model.build` makes: ``estimator`` (the dotted path of a
    scikit-learn-compatible classifier) with the keyword arguments ``params``, cut at
    ``threshold`` (a number, or ``max_f1`` / ``base_rate``: chosen when it is trained);
    ``seed`` is its ``random_state`` when it takes one."""

    estimator: str = DEFAULT_ESTIMATOR
    params: dict[str, Any] = field(default_factory=dict)
    # a number, or a rule applied on the training window (iterate.core.threshold)
    threshold: float | Literal["max_f1", "base_rate"] = field(
        default=0.5, metadata=_within(0, 1, low_open=True, high_open=True))
    seed: int = field(default=42, metadata=_within(0, SEED_MAX, why="a numpy seed"))


@dataclass(frozen=True)
class Estimator:
    """A classifier of its own (``backtest.model``): the dotted path and its keyword arguments."""

    estimator: str
    params: dict[str, Any] = field(default_factory=dict)


# Logistic regression by SGD that stays calibrated on small batches (docs/make-it-yours.md;
# tests/test_robust_defaults.py): strong L2, few epochs.
SGD_LOGISTIC = Estimator("sklearn.linear_model.SGDClassifier",
                         {"loss": "log_loss", "alpha": 0.03, "max_iter": 5, "tol": None})


@dataclass(frozen=True)
class Train:
    """``fit`` is how a full refit trains the classifier: on the whole window at once
    (``whole``), or by ``epochs`` passes of ``partial_fit`` over the training file's row groups
    in order (``stream``: no process holds the window's matrix; on the cluster with
    ``compute.engine: dask``, the same model)."""

    mode: Literal["full", "incremental", "auto"] = "full"
    reference_rows: int = field(default=20000, metadata=_within(
        100, 10_000_000, why="the drift reference sample, kept with the model"))
    fit: Literal["whole", "stream"] = "whole"
    epochs: int = field(default=5, metadata=_within(
        1, 1000, why="passes of partial_fit over the training rows with train.fit: stream"))


@dataclass(frozen=True)
class Drift:
    alpha: float = field(default=0.05, metadata=_within(0, 1, low_open=True, high_open=True))
    correction: Literal["holm", "bh", "none"] = "holm"
    psi_threshold: float = field(default=0.2, metadata=_within(0, 1e6))
    js_threshold: float = field(default=0.1, metadata=_within(0, 1))
    bins: int = field(default=10, metadata=_within(
        2, 1000, why="bins x columns x batches are held in memory"))
    min_samples: int = field(default=30, metadata=_within(1, COUNT_MAX))
    share_threshold: float = field(default=0.5, metadata=_within(0, 1, low_open=True))
    severe_psi: float = field(default=0.5, metadata=_within(0, 1e6))
    severe_unseen_share: float = field(default=0.05, metadata=_within(0, 1))


@dataclass(frozen=True)
class Monitor:
    metric: str = "roc_auc"
    degradation: float = field(default=0.03, metadata=_within(0, 1e6))


@dataclass(frozen=True)
class Evaluate:
    slice_column: str | None = None
    min_slice_rows: int = field(default=200, metadata=_within(1, COUNT_MAX))
    confidence: float = field(default=0.95, metadata=_within(
        0, 1, low_open=True, high_open=True, why="e.g. 0.95"))
    resamples: int = field(default=1000, metadata=_within(
        100, 100_000, why="100 for a stable interval; each draw is held in memory"))
    seed: int = field(default=0, metadata=_within(0, SEED_MAX, why="a numpy seed"))


@dataclass(frozen=True)
class Explain:
    """What each version relies on and whom it serves worse (docs/explain.md): permutation
    importance on a sample of the holdout (the drift and train stages score it shuffled, the
    same permutations for both models) and the gaps between groups (the evaluate stage)."""

    rows: int = field(default=2000, metadata=_within(
        50, 1_000_000, why="holdout rows sampled; each model scores rows x repeats x features"))
    repeats: int = field(default=5, metadata=_within(1, 100))
    metric: Literal["roc_auc", "log_loss", "brier"] = "roc_auc"
    seed: int = field(default=0, metadata=_within(0, SEED_MAX, why="a numpy seed"))
    # a change smaller than this (in the metric's units) is not worth naming
    min_change: float = field(default=0.005, metadata=_within(0, 1e6))
    # gaps between groups are computed for evaluate.slice_column and these columns
    sensitive_columns: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Rule:
    margin: float = field(default=0.0, metadata=_within(0, 1e6))
    min_improvement: float | None = field(default=None, metadata=_within(0, 1e6))


@dataclass(frozen=True)
class SliceGuard:
    metric: str = "roc_auc"
    margin: float = field(default=0.05, metadata=_within(0, 1e6))


@dataclass(frozen=True)
class Gate:
    rules: dict[str, Rule]
    slices: SliceGuard | None = None
    # the evidence that accumulates over batches (iterate.core.sequential): its metric (a rule's,
    # whose margin is the non-inferiority margin), error rate over all looks, the gain that
    # promotes, the age (batches) after which non-inferior is enough, the looks before giving up
    metric: str = "roc_auc"
    alpha: float = field(default=0.05, metadata=_within(0, 1, low_open=True, high_open=True))
    min_gain: float = field(default=0.005, metadata=_within(0, 1e6))
    max_age: int = field(default=2, metadata=_within(0, 100_000))
    max_looks: int = field(default=6, metadata=_within(1, 100_000))
    # the gap between groups (docs/explain.md) of each rule's metric may widen by at most this
    max_gap_increase: float | None = field(default=None, metadata=_within(0, 1e6))


@dataclass(frozen=True)
class Trigger:
    """When a batch trains a candidate at all (:mod:`iterate.core.trigger`)."""

    when: Literal["auto", "always"] = "auto"
    every: int = field(default=4, metadata=_within(1, 100_000))  # the schedule, in batches
    score_psi: float = field(default=1.0, metadata=_within(0, 1e6))  # drift of the score
    alarm_window: int = field(default=1, metadata=_within(
        1, 100_000, why="an alarm's candidate trains on this many newest batches"))
    alarm_after: int = field(default=2, metadata=_within(
        1, 100_000, why="an alarm trains a candidate once it held this many batches in a row"))


POLICY_NAMES = ("frozen", "full-every-k", "incremental", "drift-triggered", "gated", "loop")
PolicyName = Literal["frozen", "full-every-k", "incremental", "drift-triggered", "gated", "loop"]


@dataclass(frozen=True)
class Backtest:
    """``iterate backtest``: replay the history under each update policy."""

    policies: list[PolicyName] = field(default_factory=lambda: list(POLICY_NAMES))
    # every policy's model (incremental needs partial_fit); null: model.estimator, model.params
    model: Estimator | None = SGD_LOGISTIC
    # batches of the first fit, shared by every policy
    warmup: int = field(default=4, metadata=_within(1, 100_000))
    # refits train on this many batches; null: split.window
    window: int | Literal["all"] | None = field(default=None, metadata=_within(None, 100_000))
    # full-every-k: a full refit after every this many batches
    every: int = field(default=4, metadata=_within(1, 100_000))
    # worker processes fitting the planned refits ahead; 0: all in this process
    jobs: int = field(default=0, metadata=_within(
        0, 64, why="each worker holds a copy of the data"))
    # a known change point (batch number): marked in the plot, batches to recover in the table
    change_at: int | None = field(default=None, metadata=_within(1, 10_000_000))


@dataclass(frozen=True)
class Labels:
    """``iterate label``: outcomes joined to the prediction log; the loop on labelled traffic;
    the realised performance ``iterate monitor`` reports."""

    time_column: str = "labelled_at"  # a label file's optional column: when the outcome was known
    replay: bool = False  # the loop scores each source batch with production, labels it later
    delay: int = field(default=1, metadata=_within(0, 1000))  # batches between score and label
    bucket: Literal["day", "week", "month"] = "week"  # realised performance per this of scored_at


@dataclass(frozen=True)
class Predict:
    """``iterate predict``: the file is read, checked, scored and written this many rows at a
    time (memory holds one chunk)."""

    chunk_rows: int = field(default=100_000, metadata=_within(
        1000, 10_000_000, why="memory grows with it"))


@dataclass(frozen=True)
class Estimate:
    """Production's estimated performance on the prediction log before labels arrive (CBPE):
    ``iterate monitor`` and ``iterate report``."""

    bucket: Literal["hour", "day", "week", "month"] = "day"  # of the rows' scored_at (UTC)
    confidence: float = field(default=0.95, metadata=_within(
        0, 1, low_open=True, high_open=True, why="e.g. 0.95"))
    resamples: int = field(default=200, metadata=_within(
        50, 10_000, why="each draw refits the calibration and draws every bucket's labels"))
    seed: int = field(default=0, metadata=_within(0, SEED_MAX, why="a numpy seed"))


SCHEDULER = re.compile(r"tcp://(?P<host>[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})")


@dataclass(frozen=True)
class Compute:
    """Where ``iterate predict``, ``iterate land``, the evaluate stage, the drift step and
    ``train.fit: stream`` refits run (docs/scale.md): in this process (``local``), or on a Dask
    cluster (``dask``, the optional extra): a ``LocalCluster`` of ``workers`` processes started
    for the command when ``scheduler`` is null, else the team's scheduler at that address."""

    engine: Literal["local", "dask"] = "local"
    scheduler: str | None = None
    workers: int = field(default=2, metadata=_within(
        1, 512, why="processes of the LocalCluster a command starts"))
    # the evaluate stage's ROC AUC counts scores in this many equal bins of [0, 1] (bounded
    # memory, the error bound reported); null: every distinct score (exact)
    auc_bins: int | None = field(default=2**20, metadata=_within(
        2, 2**22, why="bins of [0, 1] the AUC counts scores in; null: exact"))


@dataclass(frozen=True)
class Registry:
    name: str = "model"
    description: str = ""  # what the model predicts, in the model card's first lines
    tag: bool = True  # in a git repository; elsewhere only --tag asks (and is refused)
    branch: str | None = None  # promote/rollback only on this branch's tip; None: see deploy


@dataclass(frozen=True)
class Serve:
    """``iterate serve``: where it listens, what a request may hold, how the log is flushed."""

    host: str = "127.0.0.1"
    port: int = field(default=8000, metadata=_within(0, 65535, why="0: the OS chooses"))
    max_body_bytes: int = field(default=16 * 2**20, metadata=_within(1024, 2**31))
    log_rows: int = field(default=10_000, metadata=_within(1, 10**7))
    log_seconds: float = field(default=5.0, metadata=_within(0, 3600, low_open=True))
    watch_seconds: float = field(default=1.0, metadata=_within(0, 3600, low_open=True))
    shadow: str | None = None


@dataclass(frozen=True)
class Params:
    replay: Replay
    contract: Contract
    split: Split
    model: Model
    train: Train
    evaluate: Evaluate
    gate: Gate
    drift: Drift
    monitor: Monitor
    registry: Registry
    backtest: Backtest = field(default_factory=Backtest)
    labels: Labels = field(default_factory=Labels)
    serve: Serve = field(default_factory=Serve)
    predict: Predict = field(default_factory=Predict)
    estimate: Estimate = field(default_factory=Estimate)
    trigger: Trigger = field(default_factory=Trigger)
    explain: Explain = field(default_factory=Explain)
    compute: Compute = field(default_factory=Compute)


class SectionGuard:
    """Params restricted to the sections a stage declares in dvc.yaml.

    Reading an undeclared section raises, so a stage cannot depend on a param that DVC does
    not know it depends on.
    """

    def __init__(self, params: Params, sections: tuple[str, ...]):
        self._params = params
        self._sections = sections

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name not in self._sections:
            raise AttributeError(
                f"params section {name!r} is not declared for this stage (declared: "
                f"{', '.join(self._sections)}); add it to the stage's params in dvc.yaml"
            )
        return getattr(self._params, name)


def load(path: str | Path = DEFAULT_PATH, sections: tuple[str, ...] | None = None) -> Any:
    """Read and validate ``path``; with ``sections``, return a guard exposing only those."""
    path = Path(path)
    try:
        raw = yamlfile.read(path)
    except FileNotFoundError:
        msg = "file not found; run from the repository's top folder"
        raise ParamsError(str(path), msg) from None
    except yamlfile.YamlFileError as exc:
        raise ParamsError("", exc.problem, file=exc.where) from None
    try:
        params = parse(raw)
    except ParamsError as exc:  # parse names no file: name the one read (--params may differ)
        raise ParamsError(exc.key, exc.problem, file=str(path)) from None
    return params if sections is None else SectionGuard(params, sections)


def parse(raw: Any) -> Params:
    """Build :class:`Params` from the parsed YAML, checking keys, types and combinations."""
    params = _build(Params, raw, "")
    _check_combinations(params)
    return params


def _check_combinations(p: Params) -> None:
    _check_backtest(p.backtest)
    _check_compute(p.compute)
    for key, chosen in (("model", p.model), ("backtest.model", p.backtest.model)):
        if chosen is not None and not DOTTED_PATH.fullmatch(chosen.estimator):
            raise ParamsError(f"{key}.estimator", f"{chosen.estimator!r} is not a dotted path "
                              "to a class, e.g. sklearn.linear_model.SGDClassifier")
    if p.split.window != "all" and p.split.window < 1:
        raise ParamsError("split.window", f"must be >= 1 or 'all', got {p.split.window}")
    if sorted(p.contract.classes) != [0, 1]:
        raise ParamsError("contract.classes", "binary classification needs classes [0, 1]")
    c = p.contract
    _check_timezone(c.timezone)
    for name in (c.time_column, c.label):
        if name in c.columns:
            raise ParamsError(f"contract.columns.{name}", "time and label columns are not features")
    if p.evaluate.slice_column and p.evaluate.slice_column not in c.columns:
        raise ParamsError("evaluate.slice_column", f"{p.evaluate.slice_column!r} is not a "
                          "contract column")
    for i, name in enumerate(p.explain.sensitive_columns):
        if name not in c.columns:
            raise ParamsError(f"explain.sensitive_columns[{i}]", f"{name!r} is not a contract "
                              "column")
    from iterate.core.metrics import METRICS

    named = {f"gate.rules.{m}": m for m in p.gate.rules}
    named["monitor.metric"] = p.monitor.metric
    if p.gate.slices is not None:
        named["gate.slices.metric"] = p.gate.slices.metric
    for key, metric in named.items():
        if metric not in METRICS:
            raise ParamsError(key, f"unknown metric {metric!r}; one of {', '.join(METRICS)}")
    if not p.gate.rules:
        raise ParamsError("gate.rules", "needs at least one rule, e.g. roc_auc: {margin: 0.01}")
    if p.gate.metric not in ("roc_auc", "log_loss", "brier") or p.gate.metric not in p.gate.rules:
        raise ParamsError("gate.metric", f"{p.gate.metric!r} must be roc_auc, log_loss or brier "
                          "(a metric with an exact variance) and have a rule in gate.rules")
    for name, col in c.columns.items():
        if col.min is not None and col.max is not None and col.min > col.max:
            raise ParamsError(f"contract.columns.{name}", "min is greater than max")


def _check_compute(c: Compute) -> None:
    if c.scheduler is None:
        return
    match = SCHEDULER.fullmatch(c.scheduler)
    if match is None or not 1 <= int(match["port"]) <= 65535:
        raise ParamsError("compute.scheduler", f"{c.scheduler!r} is not a scheduler address; "
                          "give tcp://HOST:PORT (e.g. tcp://10.0.0.5:8786), or null to start a "
                          "LocalCluster of compute.workers processes")
    if c.engine != "dask":
        raise ParamsError("compute.scheduler", "is used only with compute.engine: dask; set "
                          "the engine to dask, or the scheduler to null")


def _check_timezone(name: str) -> None:
    """The zone must be one the time zone database knows (``UTC``, ``Europe/Paris`` ...)."""
    import zoneinfo

    if name == "UTC":
        return
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ParamsError("contract.timezone", f"unknown time zone {name!r}; use a name of the "
                          "IANA time zone database, e.g. UTC, Europe/Paris, America/New_York")\
            from None


def _check_backtest(bt: Backtest) -> None:
    if not bt.policies:
        raise ParamsError("backtest.policies", f"name at least one of {', '.join(POLICY_NAMES)}")
    twice = sorted({p for p in bt.policies if bt.policies.count(p) > 1})
    if twice:
        raise ParamsError("backtest.policies", f"{twice[0]} is listed twice")
    if isinstance(bt.window, int) and bt.window < 1:
        raise ParamsError("backtest.window", f"must be >= 1, 'all' or null, got {bt.window}")


def _build(tp: Any, raw: Any, key: str) -> Any:
    """Convert ``raw`` to type ``tp``; ``key`` is the dotted path used in messages."""
    where = key or "params.yaml"
    origin = typing.get_origin(tp)
    if tp is Any:
        return _plain(raw, where)
    if dataclasses.is_dataclass(tp):
        if not isinstance(raw, dict):
            raise ParamsError(where, f"expected a mapping, got {_show(raw)}")
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(raw) - set(fields))
        if unknown:
            raise ParamsError(_join(key, unknown[0]),
                              f"unknown key; known keys here: {', '.join(fields)}")
        values = {}
        for name, f in fields.items():
            if name in raw:
                values[name] = _build(hints[name], raw[name], _join(key, name))
                if "within" in f.metadata:
                    _check_within(values[name], f.metadata["within"], _join(key, name))
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ParamsError(_join(key, name), "required key is missing")
        return tp(**values)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(tp)
        if raw is None and type(None) in options:
            return None
        errors = []
        for option in (o for o in options if o is not type(None)):
            try:
                return _build(option, raw, key)
            except ParamsError as exc:
                errors.append((typing.get_origin(option) is Literal, exc))
        # a word is judged against the words allowed, anything else against the other types
        said = [exc for words, exc in errors if words == isinstance(raw, str)]
        raise (said or [errors[-1][1]])[-1]
    if origin is Literal:
        allowed = typing.get_args(tp)
        if raw not in allowed:
            raise ParamsError(where, f"{_show(raw)} is not one of {', '.join(map(str, allowed))}")
        return raw
    if origin is list:
        (item,) = typing.get_args(tp)
        if not isinstance(raw, list):
            raise ParamsError(where, f"expected a list, got {_show(raw)}")
        return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(raw)]
    if origin is dict:
        _, value_type = typing.get_args(tp)
        if not isinstance(raw, dict):
            raise ParamsError(where, f"expected a mapping, got {_show(raw)}")
        return {str(k): _build(value_type, v, _join(key, str(k))) for k, v in raw.items()}
    if tp is bool:
        if not isinstance(raw, bool):
            raise ParamsError(where, f"expected true or false, got {_show(raw)}")
        return raw
    if tp is int:
        if isinstance(raw, float) and math.isfinite(raw) and raw.is_integer():
            return int(raw)  # 1e3 or 1000.0 (`dvc exp run -S` may write either): exact
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ParamsError(where, f"expected an integer, got {_show(raw)}")
        return raw
    if tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ParamsError(where, f"expected a number, got {_show(raw)}")
        if not math.isfinite(raw):
            raise ParamsError(where, f"expected a finite number, got {_show(raw)}")
        return float(raw)
    if tp is str:
        if not isinstance(raw, str):
            raise ParamsError(where, f"expected a string, got {_show(raw)}")
        return raw
    raise TypeError(f"unsupported params type {tp!r} at {where}")  # a bug here, not user input


def _plain(raw: Any, where: str) -> Any:
    """Free-form data (``model.params``): YAML's strings, numbers, booleans, nulls, lists and
    mappings with string keys, numbers finite."""
    if isinstance(raw, dict):
        for k in raw:
            if not isinstance(k, str):
                raise ParamsError(where, f"keys must be strings, got {_show(k)}")
        return {k: _plain(v, f"{where}.{k}") for k, v in raw.items()}
    if isinstance(raw, list):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(raw)]
    if isinstance(raw, float) and not math.isfinite(raw):
        raise ParamsError(where, f"expected a finite number, got {_show(raw)}")
    if raw is None or isinstance(raw, str | bool | int | float):
        return raw
    raise ParamsError(where, f"expected a YAML value, got {_show(raw)}")


def parse_section(tp: Any, raw: Any, key: str) -> Any:
    """One section (e.g. :class:`Model`) from plain data, such as the model params a bundle
    recorded, checked as :func:`parse` checks params.yaml's; ``key`` names it in messages."""
    section = _build(tp, raw, key)
    if tp is Model and not DOTTED_PATH.fullmatch(section.estimator):
        raise ParamsError(f"{key}.estimator", f"{section.estimator!r} is not a dotted path")
    return section


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _show(raw: Any) -> str:
    return f"{type(raw).__name__} {raw!r}" if raw is not None else "nothing"


def asdict(section: Any) -> dict[str, Any]:
    """A params section as plain data (for the registry and model metadata)."""
    return dataclasses.asdict(section)
