"""Backtest of model-update policies: replay a history batch by batch, test-then-train.

Each batch is first scored by every policy's model of the moment, then becomes training data.
A policy is therefore never scored on a batch it has trained on, and every policy is judged on
the same batches. The policies:

- ``frozen``: the model trained on the first ``warmup`` batches, never updated;
- ``full-every-k``: a full refit on the last ``window`` batches after every ``every`` batches;
- ``incremental``: ``partial_fit`` on each new batch, the feature transformer frozen at the
  first fit (as ``train.mode: incremental`` does);
- ``drift-triggered``: a full refit on the window when :func:`iterate.core.drift.compare` of the new
  batch against the model's training reference makes :func:`iterate.core.policy.recommend` say
  ``"full"`` (the reference is a sample of the training rows with the model's score, as the
  drift step keeps it);
- ``gated``: the loop itself. On batch ``t`` a candidate trained on the ``window`` batches
  before ``t`` is compared with production on ``t`` (:func:`core.evaluate.compare`, per slice
  too), and :func:`iterate.core.gate.decide` judges it by the gate rules; a promotable candidate
  becomes production and is first scored on ``t + 1``.

Pure: frames in, results out; no file I/O. A fit on a given set of batches is deterministic
(the model's seed is fixed), so fits are shared between policies that need the same one (e.g.
the gated candidate of batch ``t + 1`` is full-every-k's refit after batch ``t``); each policy
is still charged the fit's CPU seconds and rows, as if it had run alone. The fits known in
advance (the gated candidates, full-every-k's refits) can be computed ahead by ``jobs`` worker
processes while this one scores; the results are the same as with ``jobs=0``.
"""

from __future__ import annotations

import copy
import math
import multiprocessing
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from iterate.core import batches as batches_module
from iterate.core import contract as contract_module
from iterate.core import (
    drift,
    estimators,
    evaluate,
    gate,
    policy,
    replay,
    sequential,
    threshold,
    training,
    trigger,
)
from iterate.errors import ContractError, IterateError
from iterate.params import Contract, Drift, Evaluate, Gate, Model, Monitor, Trigger

POLICIES: tuple[str, ...] = ("frozen", "full-every-k", "incremental", "drift-triggered", "gated",
                             "loop")
METRICS: tuple[str, ...] = ("roc_auc", "f1", "log_loss")
KEEP, REFIT, PARTIAL_FIT, PROMOTE, REJECT, SKIP, PENDING = (
    "keep", "refit", "partial_fit", "promote", "reject", "skip", "pending")
DIGITS = 6


@dataclass(frozen=True)
class Batch:
    """One batch of the history: its position, id (as landing names it) and typed rows."""

    index: int
    id: str
    start: str  # first day, YYYY-MM-DD (in contract.timezone)
    frame: pd.DataFrame
    one_class: int | None = None  # the label's only class, if it holds one: not a holdout


@dataclass(frozen=True)
class Settings:
    """What a backtest runs: the data's contract, the model, and the policies' knobs."""

    contract: Contract
    model: Model
    gate: Gate
    evaluate: Evaluate
    drift: Drift
    policies: tuple[str, ...] = POLICIES
    warmup: int = 4  # batches of the first fit; scoring starts with the next one
    window: int | None = 8  # refits train on this many latest batches; None: all so far
    every: int = 4  # full-every-k's k
    reference_rows: int = 20000  # drift reference sample of the training rows
    # worker processes fitting the planned refits ahead; 0: every fit in this process. They are
    # started with "spawn": a script calling run() with jobs > 0 needs the usual
    # `if __name__ == "__main__":` guard
    jobs: int = 0
    change: int | None = None  # a known change point (batch index): batches to recover
    trigger: Trigger = Trigger()  # the loop policy's trigger
    monitor: Monitor = Monitor()  # its degradation alarm


@dataclass(frozen=True)
class Step:
    """One policy on one batch: its model's scores, then what it did with the batch."""

    batch: int  # index of the batch in the history
    metrics: dict[str, float | None]
    model: str  # key of the model that scored the batch
    trained: tuple[int, ...]  # batch indices that model learnt from (all < batch)
    action: str  # keep | refit | partial_fit | promote | reject
    note: str  # why: the drift advice, the gate's verdict ...
    fit_seconds: float  # CPU seconds spent fitting after scoring this batch
    rows_trained: int
    check_seconds: float  # CPU of the drift check, or of the candidate's evaluation + gate
    verdict: str | None = None  # gated and loop: the gate's verdict
    trained_candidate: bool = False  # loop: a candidate was fitted on this batch's trigger


@dataclass(frozen=True)
class PolicyResult:
    name: str
    steps: list[Step]
    initial_seconds: float
    initial_rows: int

    def count(self, *actions: str) -> int:
        return sum(s.action in actions for s in self.steps)

    @property
    def refits(self) -> int:
        """Full fits after the first one (the gated and loop policies' candidates, promoted or
        not)."""
        if self.name == "loop":
            return sum(s.trained_candidate for s in self.steps)
        return len(self.steps) - self.count(SKIP) if self.name == "gated" else self.count(REFIT)

    @property
    def partial_fits(self) -> int:
        return self.count(PARTIAL_FIT)

    @property
    def promotions(self) -> int:
        """Times a new model went into service after the first."""
        return self.count(REFIT, PARTIAL_FIT, PROMOTE)

    @property
    def fit_seconds(self) -> float:
        return self.initial_seconds + sum(s.fit_seconds for s in self.steps)

    @property
    def check_seconds(self) -> float:
        return sum(s.check_seconds for s in self.steps)

    @property
    def rows_trained(self) -> int:
        return self.initial_rows + sum(s.rows_trained for s in self.steps)

    def mean(self, metric: str) -> float | None:
        values = [s.metrics[metric] for s in self.steps if s.metrics[metric] is not None]
        return float(np.mean(values)) if values else None


@dataclass(frozen=True)
class Result:
    settings: Settings
    batches: list[Batch]
    policies: dict[str, PolicyResult]
    distinct_fits: int = 0  # full fits actually computed (shared between policies)
    fitted_ahead: int = 0  # of which in worker processes

    @property
    def scored(self) -> list[Batch]:
        """The batches after the first fit that are holdouts (both classes)."""
        return [b for b in self.batches[self.settings.warmup:] if b.one_class is None]

    @property
    def skipped(self) -> list[Batch]:
        """The batches after the first fit whose label holds one class: trained on, not scored."""
        return [b for b in self.batches[self.settings.warmup:] if b.one_class is not None]


# --------------------------------------------------------------------------- batches


def cut(source: pd.DataFrame, contract: Contract,
        batch_days: int) -> tuple[list[Batch], list[dict[str, Any]]]:
    """The history's batches as ``iterate replay`` cuts them, each validated by the contract.

    Returns the batches (typed good rows; bad rows dropped, as landing quarantines them) and
    the batches the contract refuses whole, ``{"batch": position, "reason": ...}``, which the
    loop would never land either.
    """
    frames = replay.pending(source, contract.time_column, batch_days, after=None,
                            timezone=contract.timezone)
    kept: list[Batch] = []
    skipped: list[dict[str, Any]] = []
    for position, raw in enumerate(frames, 1):
        try:
            good = contract_module.validate(raw, contract, where=f"batch {position}").good
        except ContractError as exc:
            skipped.append({"batch": position, "reason": str(exc)})
            continue
        times = good[contract.time_column]
        name = batches_module.batch_id(times.min(), times.max(), timezone=contract.timezone)
        classes = good[contract.label].unique()
        kept.append(Batch(len(kept), name,
                          times.min().tz_convert(contract.timezone).strftime("%Y-%m-%d"), good,
                          int(classes[0]) if len(classes) == 1 else None))
    return kept, skipped


# --------------------------------------------------------------------------- shared fits


@dataclass
class Fitted:
    key: str
    pipeline: Any
    trained: tuple[int, ...]
    seconds: float  # CPU seconds of the fit
    rows: int
    reference: pd.DataFrame | None = None
    cut: float | None = None  # its decision threshold, once asked (Lab.cut)


def _fit(x: list[pd.DataFrame], y: list[np.ndarray], indices: tuple[int, ...], model: Model,
         contract: Contract) -> tuple[Any, float, int]:
    """A full fit on the batches ``indices``: (pipeline, CPU seconds, rows)."""
    rows = pd.concat([x[i] for i in indices], ignore_index=True)
    labels = np.concatenate([y[i] for i in indices])
    start = time.process_time()
    pipeline = training.fit_full(model, contract, rows, labels)
    return pipeline, time.process_time() - start, len(labels)


_WORKER: dict[str, Any] = {}


def _start_worker(x: list[pd.DataFrame], y: list[np.ndarray], model: Model,
                  contract: Contract) -> None:
    _WORKER.update(x=x, y=y, model=model, contract=contract)


def _fit_in_worker(indices: tuple[int, ...]) -> tuple[Any, float, int]:
    w = _WORKER
    return _fit(w["x"], w["y"], indices, w["model"], w["contract"])


class Lab:
    """The batches as arrays, and the fits and scores shared by the policies (memoised)."""

    def __init__(self, batches: list[Batch], settings: Settings):
        self.batches = batches
        self.s = settings
        features, label = settings.contract.features, settings.contract.label
        self.x = [b.frame[features] for b in batches]
        self.y = [b.frame[label].to_numpy() for b in batches]
        self.score_column = "score" if "score" not in (*features, label) else "__score__"
        self.kinds = drift.kinds_from_contract(settings.contract)
        self.kinds.update({self.score_column: "numeric", label: "categorical"})
        self._fits: dict[tuple[int, ...], Fitted] = {}
        self._proba: dict[tuple[str, int], np.ndarray] = {}
        self._pool: ProcessPoolExecutor | None = None
        self._ahead: dict[tuple[int, ...], Future] = {}
        self.fitted_ahead = 0  # distinct fits a worker process made

    def window(self, last: int) -> tuple[int, ...]:
        """The batches a refit after seeing batch ``last`` trains on."""
        first = 0 if self.s.window is None else max(0, last - self.s.window + 1)
        return tuple(range(first, last + 1))

    def fit_ahead(self, planned: Iterable[tuple[int, ...]]) -> None:
        """Start the ``planned`` fits (in the order they will be needed) in worker processes."""
        todo = [w for w in dict.fromkeys(planned) if w not in self._fits and w not in self._ahead]
        if self.s.jobs < 1 or len(todo) < 2:
            return
        if self._pool is None:
            # spawn, not fork: forking a process that has started OpenMP or BLAS threads can hang
            self._pool = ProcessPoolExecutor(
                self.s.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker, initargs=(self.x, self.y, self.s.model,
                                                     self.s.contract))
        for indices in todo:
            self._ahead[indices] = self._pool.submit(_fit_in_worker, indices)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
            self._ahead.clear()

    def full(self, indices: tuple[int, ...]) -> Fitted:
        """A full fit on ``indices`` (the same fit for every policy that asks for it)."""
        if indices not in self._fits:
            ahead = self._ahead.pop(indices, None)
            try:
                if ahead is not None and not ahead.cancel():  # running or done in a worker
                    try:
                        pipeline, seconds, rows = ahead.result()
                        self.fitted_ahead += 1
                    except BrokenProcessPool:  # a worker died (e.g. out of memory): fit here
                        pipeline, seconds, rows = self._fit_here(indices)
                else:  # not planned, or not started yet: fit here rather than wait
                    pipeline, seconds, rows = self._fit_here(indices)
            except IterateError as exc:
                raise IterateError(f"backtest: fit on batches {self.batches[indices[0]].id} .. "
                                   f"{self.batches[indices[-1]].id}: {exc} (the backtest's "
                                   "window is backtest.window, its first fit backtest.warmup)"
                                   ) from None
            self._fits[indices] = Fitted(f"full[{indices[0]}:{indices[-1] + 1}]", pipeline,
                                         indices, seconds, rows)
        return self._fits[indices]

    def _fit_here(self, indices: tuple[int, ...]) -> tuple[Any, float, int]:
        return _fit(self.x, self.y, indices, self.s.model, self.s.contract)

    def proba(self, fitted: Fitted, t: int) -> np.ndarray:
        key = (fitted.key, t)
        if key not in self._proba:
            self._proba[key] = fitted.pipeline.predict_proba(self.x[t])[:, 1]
        return self._proba[key]

    def reference(self, fitted: Fitted) -> pd.DataFrame:
        """The model's drift reference: a sample of its training rows with its score."""
        if fitted.reference is None:
            columns = [*self.s.contract.features, self.s.contract.label]
            rows = pd.concat([self.batches[i].frame[columns] for i in fitted.trained],
                             ignore_index=True)
            sample = training.reference_sample(rows, self.s.reference_rows, self.s.model.seed)
            score = fitted.pipeline.predict_proba(sample[self.s.contract.features])[:, 1]
            fitted.reference = sample.assign(**{self.score_column: score})
        return fitted.reference

    def cut(self, fitted: Fitted) -> float:
        """The model's decision threshold: ``model.threshold``'s number, or its rule applied to
        the model's in-sample scores of its reference sample, as the loop's training does."""
        setting = self.s.model.threshold
        if not isinstance(setting, str):
            return float(setting)
        if fitted.cut is None:
            reference = self.reference(fitted)
            fitted.cut = threshold.choose(setting, reference[self.s.contract.label].to_numpy(),
                                          reference[self.score_column].to_numpy())
        return fitted.cut


# --------------------------------------------------------------------------- policies


@dataclass(frozen=True)
class Action:
    kind: str
    note: str = ""
    fit_seconds: float = 0.0
    rows: int = 0
    check_seconds: float = 0.0
    verdict: str | None = None
    trained: bool = False


class Policy:
    name = ""

    def __init__(self, lab: Lab, initial: Fitted):
        self.lab = lab
        self.model = initial

    def learn(self, t: int, proba: np.ndarray) -> Action:
        """Batch ``t`` has been scored (``proba`` by the current model): update or not."""
        raise NotImplementedError

    def _refit(self, t: int, note: str, check_seconds: float = 0.0) -> Action:
        self.model = self.lab.full(self.lab.window(t))
        return Action(REFIT, note, self.model.seconds, self.model.rows, check_seconds)


class Frozen(Policy):
    name = "frozen"

    def learn(self, t: int, proba: np.ndarray) -> Action:
        return Action(KEEP, "never updated")


class FullEveryK(Policy):
    name = "full-every-k"

    def learn(self, t: int, proba: np.ndarray) -> Action:
        seen = t - self.lab.s.warmup + 1  # batches scored so far, this one included
        if seen % self.lab.s.every == 0:
            return self._refit(t, f"batch {seen} since the start: every {self.lab.s.every}")
        return Action(KEEP, f"next refit in {self.lab.s.every - seen % self.lab.s.every}")


class Incremental(Policy):
    name = "incremental"

    def __init__(self, lab: Lab, initial: Fitted):
        super().__init__(lab, initial)
        # partial_fit changes the estimator in place: work on a copy of the shared first fit
        self.model = Fitted("incremental:0", copy.deepcopy(initial.pipeline), initial.trained,
                            initial.seconds, initial.rows)

    def learn(self, t: int, proba: np.ndarray) -> Action:
        start = time.process_time()
        pipeline = training.fit_incremental(self.model.pipeline, self.lab.x[t], self.lab.y[t])
        seconds = time.process_time() - start
        self.model = Fitted(f"incremental:{t}", pipeline, (*self.model.trained, t), seconds,
                            len(self.lab.y[t]))
        return Action(PARTIAL_FIT, "partial_fit on the batch", seconds, len(self.lab.y[t]))


class DriftTriggered(Policy):
    name = "drift-triggered"

    def learn(self, t: int, proba: np.ndarray) -> Action:
        lab, s = self.lab, self.lab.s
        start = time.process_time()
        reference = lab.reference(self.model)
        columns = [*s.contract.features, s.contract.label]
        current = lab.batches[t].frame[columns].assign(**{lab.score_column: proba})
        report = drift.compare(reference, current, lab.kinds, s.drift)
        advice, reasons = policy.recommend(report, has_new_data=True)
        seconds = time.process_time() - start
        if advice == "full":
            return self._refit(t, "; ".join(reasons), seconds)
        return Action(KEEP, f"drift advice {advice}", check_seconds=seconds)


class Gated(Policy):
    name = "gated"

    def learn(self, t: int, proba: np.ndarray) -> Action:
        lab, s = self.lab, self.lab.s
        one_class = lab.batches[t].one_class
        if one_class is not None:  # as the loop's gate: nothing to judge on this holdout
            return Action(SKIP, gate.skip_reason(one_class), verdict=gate.SKIP)
        candidate = lab.full(lab.window(t - 1))  # the batches before t: t is its holdout
        start = time.process_time()
        evaluation: dict[str, Any] = {"models": {"candidate": candidate.key,
                                                 "production": self.model.key}, "metrics": {}}
        slices: dict[str, Any] = {"column": s.evaluate.slice_column, "values": {}}
        if candidate.key != self.model.key:
            values = None  # slices only where the gate guards them
            if s.evaluate.slice_column and s.gate.slices is not None:
                values = lab.batches[t].frame[s.evaluate.slice_column].astype(str).to_numpy()
            evaluation["metrics"], slices = evaluate.candidate_vs_production(
                lab.y[t], lab.proba(candidate, t), proba,
                (lab.cut(candidate), lab.cut(self.model)), s.evaluate, values)
        verdict = gate.decide(evaluation, slices, s.gate)
        seconds = time.process_time() - start
        note = "; ".join(verdict.reasons)
        kind = PROMOTE if verdict.promotable else (
            KEEP if verdict.verdict == gate.IS_PRODUCTION else REJECT)
        if verdict.promotable:
            self.model = candidate
        return Action(kind, note, candidate.seconds, candidate.rows, seconds, verdict.verdict)


class Loop(Policy):
    """The loop as ``make run`` runs it: the trigger decides whether batch ``t`` trains a
    candidate (on the window before ``t``, or the alarm window); a candidate or the pending
    challenger is compared with production on ``t`` and the gate concludes on the evidence
    pooled over every batch it was judged on (:func:`iterate.core.gate.conclude`)."""

    name = "loop"

    def __init__(self, lab: Lab, initial: Fitted):
        super().__init__(lab, initial)
        self.challenger: Fitted | None = None
        self.evidence: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.promoted_at = lab.s.warmup - 1  # the batch after which production went in
        self.at_promotion: float | None = None  # production's metric on its judging holdout
        self.alarms: list[bool] = []  # the degradation alarm on each judged batch, oldest first

    def learn(self, t: int, proba: np.ndarray) -> Action:
        lab, s = self.lab, self.lab.s
        one_class = lab.batches[t].one_class
        if one_class is not None:  # no metric, no alarm: the streak ends, as in the drift step
            self.alarms.append(False)
            return Action(SKIP, gate.skip_reason(one_class), verdict=gate.SKIP)
        start = time.process_time()
        y = lab.y[t]
        now = evaluate.describe(y, proba, lab.cut(self.model), confidence=s.evaluate.confidence,
                                resamples=s.evaluate.resamples,
                                seed=s.evaluate.seed)[s.monitor.metric]
        alarm, _ = policy.degradation(s.monitor.metric, now, self.at_promotion,
                                      s.monitor.degradation)
        if self.at_promotion is None:  # the first model was judged on no holdout: its first
            self.at_promotion = now.value
        streak = trigger.streak(alarm, reversed(self.alarms))  # as the drift step counts it
        self.alarms.append(alarm)
        reference = lab.reference(self.model)[lab.score_column].to_numpy()
        c = self.challenger
        decision = trigger.decide(
            s.trigger, has_production=True, number=t - s.warmup + 1, streak=streak,
            score_psi=drift.psi(reference, proba, s.drift.bins), pending=c is not None)
        seconds = time.process_time() - start
        if decision.action == trigger.KEEP:
            return Action(KEEP, decision.reason, check_seconds=seconds)
        fitted = None
        if decision.action == trigger.TRAIN:
            size = decision.window or s.window or t
            fitted = lab.full(tuple(range(max(0, t - size), t)))
            self.challenger, self.evidence = fitted, []
        candidate = self.challenger
        start = time.process_time()
        pc = lab.proba(candidate, t)
        values = None
        if s.evaluate.slice_column and s.gate.slices is not None:
            values = lab.batches[t].frame[s.evaluate.slice_column].astype(str).to_numpy()
        metrics, slices = evaluate.candidate_vs_production(
            y, pc, proba, (lab.cut(candidate), lab.cut(self.model)), s.evaluate, values)
        evaluation = {"models": {"candidate": candidate.key, "production": self.model.key},
                      "metrics": metrics}
        self.evidence.append((y, pc, proba))
        pooled = sequential.pool(self.evidence, s.gate.metric, s.gate.alpha)
        verdict = gate.conclude(gate.decide(evaluation, slices, s.gate), pooled, s.gate,
                                age=t - self.promoted_at)
        seconds += time.process_time() - start
        kind = {gate.PROMOTE: PROMOTE, gate.PENDING: PENDING}.get(verdict.verdict, REJECT)
        if verdict.verdict != gate.PENDING:
            self.challenger, self.evidence = None, []
        if verdict.promotable:
            self.model, self.promoted_at = candidate, t
            self.at_promotion = metrics[s.monitor.metric]["candidate"]
        note = f"{decision.reason}; {'; '.join(verdict.reasons)}"
        return Action(kind, note, fitted.seconds if fitted else 0.0, fitted.rows if fitted else 0,
                      seconds, verdict.verdict, trained=fitted is not None)


KINDS: dict[str, type[Policy]] = {p.name: p for p in (Frozen, FullEveryK, Incremental,
                                                       DriftTriggered, Gated, Loop)}


# --------------------------------------------------------------------------- the replay


def check(settings: Settings, n_batches: int | None = None) -> None:
    """Refuse settings no backtest can run, saying which knob to change."""
    unknown = [p for p in settings.policies if p not in KINDS]
    if unknown:
        raise IterateError(f"backtest.policies: unknown policy {unknown[0]!r}; one of "
                           f"{', '.join(POLICIES)}")
    if not settings.policies or len(set(settings.policies)) != len(settings.policies):
        raise IterateError("backtest.policies: name at least one policy, each once")
    if "incremental" in settings.policies:
        pipeline = training.build(settings.model, settings.contract)
        if not estimators.learns_incrementally(pipeline):
            raise IterateError(
                f"backtest.model: the incremental policy continues the model with partial_fit, "
                f"which {estimators.label(pipeline)} ({settings.model.estimator}) does not "
                "have; set backtest.model.estimator to one that has it (e.g. "
                "sklearn.linear_model.SGDClassifier) or drop incremental from backtest.policies")
    for name, value in (("warmup", settings.warmup), ("every", settings.every),
                        ("window", settings.window or 1)):
        if value < 1:
            raise IterateError(f"backtest.{name}: must be >= 1, got {value}")
    if n_batches is not None and n_batches <= settings.warmup:
        raise IterateError(f"backtest: {n_batches} batch(es) in the history, but the first fit "
                           f"takes {settings.warmup} (backtest.warmup) and at least one more is "
                           f"needed to score; {_advice(settings, n_batches)}")


def _advice(settings: Settings, n_batches: int) -> str:
    """What to change when too few batches are left to score."""
    if n_batches == 0:
        return ("every batch was refused (see the reasons above): fix them in the contract "
                "section, e.g. lower contract.min_rows below the rows of one batch or make "
                "replay.batch_days longer")
    return ("use a longer history (replay.source), lower backtest.warmup, or make "
            "replay.batch_days shorter if each batch keeps at least contract.min_rows "
            f"({settings.contract.min_rows}) good rows")


def run(batches: list[Batch], settings: Settings,
        progress: Callable[[int, int, Batch], None] | None = None) -> Result:
    """Replay ``batches`` (oldest first) under every policy of ``settings``.

    Parameters
    ----------
    batches : list of Batch
        Typed rows of each batch (:func:`cut`), oldest first.
    settings : Settings
    progress : callable, optional
        Called as ``progress(done, total, batch)`` after each scored batch.

    Returns
    -------
    Result
        Per policy, one :class:`Step` per batch after the ``warmup`` ones.
    """
    check(settings, len(batches))
    if all(b.one_class is not None for b in batches[settings.warmup:]):
        raise IterateError("backtest: every batch after the first fit holds one class only, so "
                           "none can be scored; lower backtest.warmup or use a longer history "
                           "(replay.source)")
    lab = Lab(batches, settings)
    first = tuple(range(settings.warmup))
    try:
        # the workers start (and fit ahead) while this process fits the first model
        lab.fit_ahead([w for w in planned(lab, len(batches)) if w != first])
        return _replay(lab, lab.full(first), progress)
    finally:
        lab.close()


def planned(lab: Lab, n: int) -> list[tuple[int, ...]]:
    """The full fits known before the replay, in the order the replay needs them."""
    s = lab.s
    needed = []
    for t in range(s.warmup, n):
        if "gated" in s.policies:
            needed.append(lab.window(t - 1))  # the candidate judged on batch t
        if "full-every-k" in s.policies and (t - s.warmup + 1) % s.every == 0:
            needed.append(lab.window(t))
    return needed


def _replay(lab: Lab, initial: Fitted,
            progress: Callable[[int, int, Batch], None] | None) -> Result:
    settings, batches = lab.s, lab.batches
    policies = {name: KINDS[name](lab, initial) for name in settings.policies}
    steps: dict[str, list[Step]] = {name: [] for name in policies}
    total = len(batches) - settings.warmup
    for t in range(settings.warmup, len(batches)):
        y = lab.y[t]
        holdout = batches[t].one_class is None  # a batch of one class is trained on, not scored
        for name, updater in policies.items():
            model = updater.model
            proba = lab.proba(model, t)
            scores = evaluate.score(y, proba, lab.cut(model)) if holdout else \
                dict.fromkeys(METRICS)
            action = updater.learn(t, proba)  # only now does the policy see batch t's labels
            steps[name].append(Step(
                batch=t, metrics={m: scores[m] for m in METRICS}, model=model.key,
                trained=model.trained, action=action.kind, note=action.note,
                fit_seconds=action.fit_seconds, rows_trained=action.rows,
                check_seconds=action.check_seconds, verdict=action.verdict,
                trained_candidate=action.trained))
        if progress is not None:
            progress(t - settings.warmup + 1, total, batches[t])
    return Result(settings, batches, {
        name: PolicyResult(name, steps[name], initial.seconds, initial.rows)
        for name in policies}, distinct_fits=len(lab._fits), fitted_ahead=lab.fitted_ahead)


def batches_to_recover(result: PolicyResult, change: int, *, metric: str = "roc_auc",
                       tolerance: float = 0.05, before: int = 5) -> int | None:
    """Batches after a known change at batch index ``change`` until the policy's ``metric`` is
    back within ``tolerance`` of its mean over the ``before`` batches before the change (0: it
    never left); None when it never comes back."""
    prior = [s.metrics[metric] for s in result.steps
             if change - before <= s.batch < change and s.metrics[metric] is not None]
    if not prior:
        return None
    target = float(np.mean(prior)) - tolerance
    for s in result.steps:
        if s.batch >= change and s.metrics[metric] is not None and s.metrics[metric] >= target:
            return s.batch - change
    return None


# --------------------------------------------------------------------------- plain results


def _round(x: Any, digits: int = DIGITS) -> float | None:
    if x is None:
        return None
    x = float(x)
    return round(x, digits) + 0.0 if math.isfinite(x) else None


def summary(result: Result) -> dict[str, Any]:
    """JSON-safe results: settings, batches, and per policy the means, counts and series.

    Every number is finite and rounded (a metric that cannot be computed, e.g. ROC AUC on a
    batch with one class, is ``null`` and left out of the mean).
    """
    s = result.settings
    batches = result.batches
    policies = {}
    for name, pr in result.policies.items():
        series = []
        for step in pr.steps:
            batch = batches[step.batch]
            entry: dict[str, Any] = {
                "batch": step.batch + 1, "id": batch.id, "start": batch.start,
                "rows": len(batch.frame),
                **{m: _round(step.metrics[m]) for m in METRICS},
                "model": step.model, "trained_from": batches[step.trained[0]].id,
                "trained_to": batches[step.trained[-1]].id,
                "trained_batches": len(step.trained), "action": step.action,
            }
            if step.verdict is not None:
                entry["verdict"] = step.verdict
            if batch.one_class is not None:
                entry["skipped"] = gate.skip_reason(batch.one_class)
            series.append(entry)
        policies[name] = {
            "mean": {m: _round(pr.mean(m)) for m in METRICS},
            "refits": pr.refits, "partial_fits": pr.partial_fits,
            "promotions": pr.promotions, "rejected": pr.count(REJECT),
            "fit_seconds": _round(pr.fit_seconds, 3), "check_seconds": _round(pr.check_seconds, 3),
            "rows_trained": pr.rows_trained,
            "recover": None if s.change is None else batches_to_recover(pr, s.change),
            "series": series,
        }
    return {
        "settings": {"model": s.model.estimator, "threshold": s.model.threshold,
                     "warmup": s.warmup, "window": s.window if s.window is not None else "all",
                     "every": s.every, "policies": list(s.policies),
                     "change_at": None if s.change is None else s.change + 1},
        "batches": {"total": len(batches), "scored": len(result.scored),
                    "rows_scored": int(sum(len(b.frame) for b in result.scored)),
                    "first_fit": [b.id for b in batches[:s.warmup]],
                    "one_class": [{"batch": b.index + 1, "id": b.id, "class": b.one_class}
                                  for b in result.skipped],
                    "first_scored": result.scored[0].id, "last_scored": result.scored[-1].id},
        "compute": {"distinct_fits": result.distinct_fits, "fitted_ahead": result.fitted_ahead,
                    "jobs": s.jobs},
        "policies": policies,
    }


def frame(result: Result) -> pd.DataFrame:
    """One row per batch x policy: the batch, the policy's scores on it and what it did next."""
    rows = []
    for name, pr in result.policies.items():
        for step in pr.steps:
            batch = result.batches[step.batch]
            rows.append({"batch": step.batch + 1, "start": batch.start, "id": batch.id,
                         "policy": name, "rows": len(batch.frame),
                         **{m: _round(step.metrics[m]) for m in METRICS},
                         "action": step.action})
    return pd.DataFrame(rows)
