"""Evidence that accumulates: a challenger's paired scores beside production's on every batch
that neither has trained on, pooled into one confidence interval that keeps its error rate
although the gate looks at it after every batch.

Each batch (a *look*) gives the paired improvement of the challenger's metric with its exact
variance (:func:`iterate.core.evaluate.paired_improvement`: DeLong for ROC AUC, paired means for
the losses). The batches are independent holdouts, so the pooled improvement is their mean
weighted by rows, ``sum(w_b d_b)``, with variance ``sum(w_b**2 v_b)`` (``w_b = n_b / N``): the
improvement on an average row of the evidence, each batch keeping its own ranking (no ROC AUC
across batches whose base rates differ).

Alpha spending with a union bound over looks: look ``k`` uses the two-sided level
``alpha_k = alpha / (k (k + 1))``. The levels sum to ``alpha`` over any number of looks, so the
chance that *any* look's interval misses the true improvement is at most ``alpha``, however
long the challenger waits (Bonferroni over looks needs no independence between them). Only
numpy and the standard library are imported.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

from iterate.core import evaluate

POWER = 0.8  # the power at which the detectable improvement is reported
SEQUENTIAL_METRICS = ("roc_auc", "log_loss", "brier")  # those with an analytic variance


def level(alpha: float, look: int) -> float:
    """The two-sided error level spent at look ``look`` (1-based): ``alpha / (k (k + 1))``."""
    return alpha / (look * (look + 1))


@dataclass(frozen=True)
class Pooled:
    """The challenger's improvement over production on every look so far (None: no estimate)."""

    metric: str
    looks: int  # batches pooled (the ones where the metric could be estimated)
    rows: int
    improvement: float | None
    low: float | None
    high: float | None
    confidence: float  # 1 - alpha_k: the interval's coverage at this look
    detectable: float | None  # the smallest true gain over min_gain found with POWER

    def to_dict(self) -> dict[str, Any]:
        return {k: (round(v, 6) + 0.0 if isinstance(v, float) else v)
                for k, v in asdict(self).items()}


def pool(batches: Iterable[tuple[Any, Any, Any]], metric: str, alpha: float) -> Pooled:
    """Pool ``(y, challenger_proba, production_proba)`` of each batch, oldest first.

    Returns the interval at the level spent on this look (the number of batches that gave an
    estimate) and the power: ``detectable`` is how far above ``gate.min_gain`` a true gain must
    lie to be promoted at this look with probability :data:`POWER`.
    """
    estimates = [e for e in (evaluate.paired_improvement(y, c, p, metric) for y, c, p in batches)
                 if e is not None and math.isfinite(e[1])]
    if not estimates:
        return Pooled(metric, 0, 0, None, None, None, 1.0 - level(alpha, 1), None)
    rows = sum(n for _, _, n in estimates)
    improvement = sum(d * n for d, _, n in estimates) / rows
    se = math.sqrt(max(sum(v * (n / rows) ** 2 for _, v, n in estimates), 0.0))
    spent = level(alpha, len(estimates))
    z = NormalDist().inv_cdf(1.0 - spent / 2.0)
    return Pooled(metric, len(estimates), rows, improvement, improvement - z * se,
                  improvement + z * se, 1.0 - spent, (z + NormalDist().inv_cdf(POWER)) * se)
