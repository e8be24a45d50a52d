"""The decision threshold of a model: the number in params, or one chosen by a rule on the
training window (``model.threshold: max_f1 | base_rate``, docs/make-it-yours.md).

A rule is applied to the model's in-sample scores of its reference sample (training rows),
once, when it is trained; the number is recorded with the model (``model.json``'s
``threshold``) and every reader (evaluation, the gate, predict, serve, monitoring, the
backtest) cuts that model's scores at its own number.
"""

from __future__ import annotations

from typing import Any

import numpy as np

RULES = ("max_f1", "base_rate")
LOWEST = 1e-6  # a chosen threshold stays inside (0, 1): a cut at 0 would predict every row 1


def choose(setting: float | str, labels: Any, scores: Any) -> float:
    """The threshold ``setting`` gives for a model whose training rows have ``labels`` (0/1)
    and in-sample ``scores`` (probability of class 1).

    - a number: itself;
    - ``base_rate``: the positive share of the labels (predict 1 where the model's probability
      is above the training base rate);
    - ``max_f1``: the score cut with the highest F1 on these rows (scikit-learn's
      precision-recall curve); of equal F1 the lowest cut.
    """
    if not isinstance(setting, str):
        return float(setting)
    y = np.asarray(labels).astype(int)
    if setting not in RULES:
        raise ValueError(f"model.threshold: {setting!r} is not a number, max_f1 or base_rate")
    if y.size == 0 or y.min() == y.max():
        raise ValueError(f"model.threshold: {setting} needs training rows of both classes")
    if setting == "base_rate":
        return _inside(float(y.mean()))
    from sklearn.metrics import precision_recall_curve

    precision, recall, cuts = precision_recall_curve(y, np.asarray(scores, dtype=float))
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros_like(total), where=total > 0)
    return _inside(float(cuts[int(np.argmax(f1))]))  # cuts rise: argmax takes the lowest tie


def _inside(value: float) -> float:
    return float(min(max(value, LOWEST), 1 - LOWEST))
