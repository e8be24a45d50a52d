"""The trigger (iterate.core.trigger): a batch trains a candidate only when it can pay."""

from __future__ import annotations

from iterate.core import trigger
from iterate.params import Trigger

AUTO = Trigger(when="auto", every=4, score_psi=0.5, alarm_window=1)


def decide(**changes):
    args = {"has_production": True, "number": 1, "alarm": False, "score_psi": 0.1,
            "pending": False, "saw_alarm": False, **changes}
    return trigger.decide(AUTO, **args)


def test_without_production_a_candidate_is_trained():
    assert decide(has_production=False).action == trigger.TRAIN


def test_always_trains_on_every_batch():
    assert trigger.decide(Trigger(when="always"), has_production=True, number=1, alarm=False,
                          score_psi=0.0, pending=False).action == trigger.TRAIN


def test_a_quiet_batch_trains_nothing_and_says_when_the_schedule_is_next():
    d = decide(number=1)
    assert d.action == trigger.KEEP and "next scheduled in 3" in d.reason


def test_the_schedule_trains_every_k_batches():
    assert decide(number=4).action == trigger.TRAIN and decide(number=8).action == trigger.TRAIN


def test_the_models_score_drifting_trains_but_a_small_shift_does_not():
    assert decide(score_psi=0.6).action == trigger.TRAIN
    assert decide(score_psi=0.4).action == trigger.KEEP


def test_an_alarm_trains_on_the_alarm_window_and_replaces_a_challenger_from_before_it():
    d = decide(alarm=True, pending=True, saw_alarm=False)
    assert d.action == trigger.TRAIN and d.window == 1


def test_a_pending_challenger_is_judged_again_instead_of_training_one_more():
    assert decide(pending=True, number=4).action == trigger.CHALLENGER
    assert decide(alarm=True, pending=True, saw_alarm=True).action == trigger.CHALLENGER
