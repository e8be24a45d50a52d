"""Whether a batch trains a candidate at all: train only when it can pay.

``trigger.when: always`` trains one on every batch (the former loop). ``auto`` (the default)
trains one when

- there is no production model yet;
- production's metric fell (the degradation alarm of :func:`iterate.core.policy.degradation`):
  the world changed, so the candidate trains on the newest ``trigger.alarm_window`` batches
  only, and it replaces a pending challenger;
- the model's own score drifts (PSI of production's score on the batch against its training
  reference >= ``trigger.score_psi``): drift that reaches the model, where a seasonal shift of
  the inputs that the model already handles moves the score little;
- the schedule says so (every ``trigger.every`` batches);

and otherwise trains nothing: a pending challenger is judged again on the batch, or production
simply stays. The backtest chose the score's drift over the drift of every input column, which
fires on every seasonal batch (docs/backtest.md).
"""

from __future__ import annotations

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


def decide(options: Trigger, *, has_production: bool, number: int, alarm: bool,
           score_psi: float | None, pending: bool, saw_alarm: bool = False) -> Decision:
    """The trigger for batch ``number`` (1-based count of judged batches); ``saw_alarm``: the
    pending challenger trained on a batch of the alarm's streak already (it is judged again
    rather than replaced by one more)."""
    if not has_production:
        return Decision(TRAIN, "no production model yet")
    if options.when == "always":
        return Decision(TRAIN, "trigger.when: always")
    if alarm and not saw_alarm:
        return Decision(TRAIN, "degradation alarm: production's metric fell; the candidate "
                        f"trains on the newest {options.alarm_window} batch(es)",
                        options.alarm_window)
    if pending:
        return Decision(CHALLENGER, "a challenger is pending: it is judged on this batch too")
    if score_psi is not None and score_psi >= options.score_psi:
        return Decision(TRAIN, f"the model's score drifts: PSI {score_psi:.3f} >= "
                        f"trigger.score_psi {options.score_psi}")
    if number % options.every == 0:
        return Decision(TRAIN, f"schedule: batch {number}, every {options.every}")
    return Decision(KEEP, f"nothing calls for a candidate (score PSI "
                    f"{'n/a' if score_psi is None else f'{score_psi:.3f}'}, no alarm, next "
                    f"scheduled in {options.every - number % options.every})")
