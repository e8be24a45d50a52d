"""Whether a batch trains a candidate at all: train only when it can pay.

``trigger.when: always`` trains one on every batch (the former loop). ``auto`` (the default)
trains one when

- there is no production model yet;
- production's metric fell (the degradation alarm of :func:`iterate.core.policy.degradation`)
  on ``trigger.alarm_after`` batches in a row: the world changed, so the candidate trains on
  the newest ``trigger.alarm_window`` batches only, and it replaces a pending challenger; every
  ``alarm_after``-th batch of a continuing streak trains a fresh one (a challenger trained at
  the streak's start goes stale while the change goes on). An alarm on one batch alone, e.g.
  one hard week, trains nothing by itself;
- the model's own score drifts (PSI of production's score on the batch against its training
  reference >= ``trigger.score_psi``): drift that reaches the model, where a seasonal shift of
  the inputs that the model already handles moves the score little;
- the schedule says so (every ``trigger.every`` batches);

and otherwise trains nothing: a pending challenger is judged again on the batch, or production
simply stays. The backtest chose the score's drift over the drift of every input column, which
fires on every seasonal batch (docs/backtest.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from iterate.params import Trigger

TRAIN, CHALLENGER, KEEP = "train", "challenger", "keep"


@dataclass(frozen=True)
class Decision:
    action: str  # train | challenger (judge the pending one) | keep
    reason: str
    window: int | None = None  # newest batches to train on; None: split.window

    def to_dict(self) -> dict:
        return {"action": self.action, "reason": self.reason, "window": self.window}


def decide(options: Trigger, *, has_production: bool, number: int, streak: int,
           score_psi: float | None, pending: bool) -> Decision:
    """The trigger for batch ``number`` (1-based count of judged batches); ``streak``: the
    batches in a row, this one included, on which the degradation alarm held (0: no alarm)."""
    if not has_production:
        return Decision(TRAIN, "no production model yet")
    if options.when == "always":
        return Decision(TRAIN, "trigger.when: always")
    if alarmed(options, streak):
        return Decision(TRAIN, f"degradation alarm on {streak} batch(es) in a row: production's "
                        f"metric fell; the candidate trains on the newest "
                        f"{options.alarm_window} batch(es)", options.alarm_window)
    if pending:
        return Decision(CHALLENGER, "a challenger is pending: it is judged on this batch too")
    if score_psi is not None and score_psi >= options.score_psi:
        return Decision(TRAIN, f"the model's score drifts: PSI {score_psi:.3f} >= "
                        f"trigger.score_psi {options.score_psi}")
    if number % options.every == 0:
        return Decision(TRAIN, f"schedule: batch {number}, every {options.every}")
    alarm = f"alarm on {streak} batch(es) in a row, trains at {options.alarm_after}" if streak \
        else "no alarm"
    return Decision(KEEP, f"nothing calls for a candidate (score PSI "
                    f"{'n/a' if score_psi is None else f'{score_psi:.3f}'}, {alarm}, next "
                    f"scheduled in {options.every - number % options.every})")


def alarmed(options: Trigger, streak: int) -> bool:
    """Whether an alarm streak of ``streak`` batches trains a candidate on this batch: when it
    has held ``trigger.alarm_after`` batches, and again every ``alarm_after`` batches after."""
    return streak > 0 and streak % options.alarm_after == 0


def streak(alarm: bool, earlier: Iterable[object]) -> int:
    """Batches in a row the alarm held, this one included: ``earlier`` is the ``degraded`` flag
    of the batches before, newest first (bools, or as a CSV gives them back)."""
    count = 0
    for degraded in [alarm, *earlier]:
        if str(degraded).lower() not in ("true", "1"):
            break
        count += 1
    return count
