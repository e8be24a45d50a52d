"""Read params.yaml once into typed, validated dataclasses.

Every command and stage goes through :func:`load`. An unknown key, a wrong type or an
impossible combination raises :class:`~iterate.errors.ParamsError` naming the key, so a typo
never silently falls back to a default.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from iterate.errors import ParamsError

DEFAULT_PATH = Path("params.yaml")


@dataclass(frozen=True)
class Replay:
    source: str
    batch_days: int = 7
    warmup_batches: int = 4
    iterations: int = 6
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
    max_bad_share: float = 0.2
    min_rows: int = 50
    extra_columns: Literal["refuse", "drop"] = "refuse"
    require_all_classes: bool = True

    @property
    def features(self) -> list[str]:
        return list(self.columns)

    def of_dtype(self, dtype: str) -> list[str]:
        return [name for name, col in self.columns.items() if col.dtype == dtype]


@dataclass(frozen=True)
class Split:
    window: int | Literal["all"] = 8
    min_train_rows: int = 1000


@dataclass(frozen=True)
class HistGradientBoosting:
    max_iter: int = 200
    learning_rate: float = 0.1
    max_leaf_nodes: int = 31
    l2_regularization: float = 0.0


@dataclass(frozen=True)
class SgdLogistic:
    alpha: float = 0.0001
    max_iter: int = 20


@dataclass(frozen=True)
class Model:
    kind: Literal["hist_gradient_boosting", "sgd_logistic"] = "hist_gradient_boosting"
    threshold: float = 0.5
    seed: int = 42
    hist_gradient_boosting: HistGradientBoosting = field(default_factory=HistGradientBoosting)
    sgd_logistic: SgdLogistic = field(default_factory=SgdLogistic)

    @property
    def settings(self) -> dict[str, Any]:
        """The hyper-parameters of the chosen kind."""
        return dataclasses.asdict(getattr(self, self.kind))


@dataclass(frozen=True)
class Train:
    mode: Literal["full", "incremental", "auto"] = "full"
    reference_rows: int = 20000


@dataclass(frozen=True)
class Drift:
    alpha: float = 0.05
    correction: Literal["holm", "bh", "none"] = "holm"
    psi_threshold: float = 0.2
    js_threshold: float = 0.1
    bins: int = 10
    min_samples: int = 30
    share_threshold: float = 0.5
    severe_psi: float = 0.5
    severe_unseen_share: float = 0.05


@dataclass(frozen=True)
class Monitor:
    metric: str = "roc_auc"
    degradation: float = 0.03


@dataclass(frozen=True)
class Evaluate:
    slice_column: str | None = None
    min_slice_rows: int = 200
    confidence: float = 0.95
    resamples: int = 1000
    seed: int = 0


@dataclass(frozen=True)
class Rule:
    margin: float = 0.0
    min_improvement: float | None = None


@dataclass(frozen=True)
class SliceGuard:
    metric: str = "roc_auc"
    margin: float = 0.05


@dataclass(frozen=True)
class Gate:
    rules: dict[str, Rule]
    slices: SliceGuard | None = None


POLICY_NAMES = ("frozen", "full-every-k", "incremental", "drift-triggered", "gated")
PolicyName = Literal["frozen", "full-every-k", "incremental", "drift-triggered", "gated"]


@dataclass(frozen=True)
class Backtest:
    """``iterate backtest``: replay the history under each update policy."""

    policies: list[PolicyName] = field(default_factory=lambda: list(POLICY_NAMES))
    model: Literal["sgd_logistic", "hist_gradient_boosting"] = "sgd_logistic"
    warmup: int = 4  # batches of the first fit, shared by every policy
    window: int | Literal["all"] | None = None  # refits train on this many batches; null: split
    every: int = 4  # full-every-k: a full refit after every this many batches
    jobs: int = 0  # worker processes fitting the planned refits ahead; 0: all in this process


@dataclass(frozen=True)
class Registry:
    name: str = "model"
    tag: bool = False


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
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        msg = "file not found; run from the repository's top folder"
        raise ParamsError(str(path), msg) from None
    except yaml.YAMLError as exc:
        raise ParamsError(str(path), f"not valid YAML: {exc}".replace("\n", " ")) from None
    params = parse(raw)
    return params if sections is None else SectionGuard(params, sections)


def parse(raw: Any) -> Params:
    """Build :class:`Params` from the parsed YAML, checking keys, types and combinations."""
    params = _build(Params, raw, "")
    _check_combinations(params)
    return params


def _check_combinations(p: Params) -> None:
    _check_backtest(p.backtest)
    if p.model.kind == "hist_gradient_boosting" and p.train.mode in ("incremental", "auto"):
        raise ParamsError(
            "train.mode",
            f"{p.train.mode} needs a model that learns with partial_fit; hist_gradient_boosting "
            "cannot (its warm_start adds trees, it does not update). Use model.kind: "
            "sgd_logistic or train.mode: full",
        )
    if p.train.reference_rows < 100:
        raise ParamsError("train.reference_rows", "must be >= 100 (the drift reference sample)")
    d = p.drift
    for key, ok, rule in (("alpha", 0 < d.alpha < 1, "between 0 and 1"),
                          ("share_threshold", 0 < d.share_threshold <= 1, "in (0, 1]"),
                          ("bins", d.bins >= 2, ">= 2"),
                          ("min_samples", d.min_samples >= 1, ">= 1"),
                          ("psi_threshold", d.psi_threshold >= 0, ">= 0"),
                          ("js_threshold", d.js_threshold >= 0, ">= 0")):
        if not ok:
            raise ParamsError(f"drift.{key}", f"must be {rule}")
    if p.split.window != "all" and p.split.window < 1:
        raise ParamsError("split.window", f"must be >= 1 or 'all', got {p.split.window}")
    if not 0 < p.model.threshold < 1:
        raise ParamsError("model.threshold", "must be between 0 and 1")
    if not 0 < p.evaluate.confidence < 1:
        raise ParamsError("evaluate.confidence", "must be between 0 and 1, e.g. 0.95")
    if not 0 <= p.contract.max_bad_share <= 1:
        raise ParamsError("contract.max_bad_share", "must be between 0 and 1")
    if p.replay.batch_days < 1:
        raise ParamsError("replay.batch_days", "must be >= 1")
    if p.replay.warmup_batches < 2:
        raise ParamsError("replay.warmup_batches", "must be >= 2 (training batches + holdout)")
    if sorted(p.contract.classes) != [0, 1]:
        raise ParamsError("contract.classes", "binary classification needs classes [0, 1]")
    c = p.contract
    for name in (c.time_column, c.label):
        if name in c.columns:
            raise ParamsError(f"contract.columns.{name}", "time and label columns are not features")
    if p.evaluate.slice_column and p.evaluate.slice_column not in c.columns:
        raise ParamsError("evaluate.slice_column", f"{p.evaluate.slice_column!r} is not a "
                          "contract column")
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
    if p.contract.min_rows < 1:
        raise ParamsError("contract.min_rows", "must be >= 1")
    if p.evaluate.resamples < 100:
        raise ParamsError("evaluate.resamples", "must be >= 100 for a stable interval")
    for name, col in c.columns.items():
        if col.min is not None and col.max is not None and col.min > col.max:
            raise ParamsError(f"contract.columns.{name}", "min is greater than max")


def _check_backtest(bt: Backtest) -> None:
    if not bt.policies:
        raise ParamsError("backtest.policies", f"name at least one of {', '.join(POLICY_NAMES)}")
    twice = sorted({p for p in bt.policies if bt.policies.count(p) > 1})
    if twice:
        raise ParamsError("backtest.policies", f"{twice[0]} is listed twice")
    if "incremental" in bt.policies and bt.model != "sgd_logistic":
        raise ParamsError("backtest.model", f"the incremental policy needs a model that learns "
                          f"with partial_fit; {bt.model} cannot. Use sgd_logistic (every policy "
                          "then uses it: a fair comparison) or drop incremental from "
                          "backtest.policies")
    for key, value in (("warmup", bt.warmup), ("every", bt.every)):
        if value < 1:
            raise ParamsError(f"backtest.{key}", f"must be >= 1, got {value}")
    if bt.jobs < 0:
        raise ParamsError("backtest.jobs", f"must be >= 0, got {bt.jobs}")
    if isinstance(bt.window, int) and bt.window < 1:
        raise ParamsError("backtest.window", f"must be >= 1, 'all' or null, got {bt.window}")


def _build(tp: Any, raw: Any, key: str) -> Any:
    """Convert ``raw`` to type ``tp``; ``key`` is the dotted path used in messages."""
    where = key or "params.yaml"
    origin = typing.get_origin(tp)
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
                errors.append(exc)
        raise errors[-1]
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
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ParamsError(where, f"expected an integer, got {_show(raw)}")
        return raw
    if tp is float:
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            raise ParamsError(where, f"expected a number, got {_show(raw)}")
        return float(raw)
    if tp is str:
        if not isinstance(raw, str):
            raise ParamsError(where, f"expected a string, got {_show(raw)}")
        return raw
    raise TypeError(f"unsupported params type {tp!r} at {where}")  # a bug here, not user input


def _join(key: str, name: str) -> str:
    return f"{key}.{name}" if key else name


def _show(raw: Any) -> str:
    return f"{type(raw).__name__} {raw!r}" if raw is not None else "nothing"


def asdict(section: Any) -> dict[str, Any]:
    """A params section as plain data (for the registry and model metadata)."""
    return dataclasses.asdict(section)
