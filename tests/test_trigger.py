"""The trigger (iterate.core.trigger): a batch trains a candidate only when it can pay."""

from __future__ import annotations

from iterate.core import trigger
from iterate.params import Trigger

AUTO = Trigger(when="auto", every=4, score_psi=0.5, alarm_window=1, alarm_after=2)


def decide(options: Trigger = AUTO, **changes):
    args = {"has_production": True, "number": 1, "streak": 0, "score_psi": 0.1,
            "pending": False, **changes}
    return trigger.decide(options, **args)


def test_without_production_a_candidate_is_trained():
    assert decide(has_production=False).action == trigger.TRAIN


def test_always_trains_on_every_batch():
    assert decide(Trigger(when="always"), score_psi=0.0).action == trigger.TRAIN


def test_a_quiet_batch_trains_nothing_and_says_when_the_schedule_is_next():
    d = decide(number=1)
    assert d.action == trigger.KEEP and "next scheduled in 3" in d.reason


def test_the_schedule_trains_every_k_batches():
    assert decide(number=4).action == trigger.TRAIN and decide(number=8).action == trigger.TRAIN


def test_the_models_score_drifting_trains_but_a_small_shift_does_not():
    assert decide(score_psi=0.6).action == trigger.TRAIN
    assert decide(score_psi=0.4).action == trigger.KEEP


def test_an_alarm_on_one_batch_alone_trains_nothing_and_says_when_it_would():
    d = decide(streak=1)
    assert d.action == trigger.KEEP and "alarm on 1 batch(es) in a row, trains at 2" in d.reason
    assert decide(streak=1, pending=True).action == trigger.CHALLENGER


def test_an_alarm_held_alarm_after_batches_trains_on_the_alarm_window_replacing_a_challenger():
    d = decide(streak=2, pending=True)
    assert d.action == trigger.TRAIN and d.window == 1 and "2 batch(es) in a row" in d.reason
    wide = Trigger(when="auto", every=4, score_psi=0.5, alarm_window=3, alarm_after=2)
    assert decide(wide, streak=2).window == 3


def test_a_continuing_alarm_trains_a_fresh_candidate_every_alarm_after_batches():
    trains = [s for s in range(1, 10) if decide(streak=s, pending=True).action == trigger.TRAIN]
    assert trains == [2, 4, 6, 8]
    three = Trigger(when="auto", every=4, score_psi=0.5, alarm_window=1, alarm_after=3)
    assert [s for s in range(1, 10) if trigger.alarmed(three, s)] == [3, 6, 9]


def test_alarm_after_1_trains_on_every_alarmed_batch():
    one = Trigger(when="auto", every=4, score_psi=0.5, alarm_window=1, alarm_after=1)
    assert all(decide(one, streak=s, pending=True).action == trigger.TRAIN for s in (1, 2, 3))
    assert decide(one, streak=0, pending=True).action == trigger.CHALLENGER


def test_between_the_alarms_trainings_the_pending_challenger_is_judged_again():
    assert decide(streak=3, pending=True, number=4).action == trigger.CHALLENGER


def test_a_pending_challenger_is_judged_again_instead_of_training_one_more():
    assert decide(pending=True, number=4).action == trigger.CHALLENGER
    assert decide(pending=True, score_psi=5.0).action == trigger.CHALLENGER


def test_the_streak_counts_the_alarmed_batches_in_a_row_up_to_this_one():
    assert trigger.streak(False, [True, True]) == 0
    assert trigger.streak(True, []) == 1
    assert trigger.streak(True, [True, True, False, True]) == 3


def test_the_streak_reads_the_degraded_flags_as_a_history_csv_gives_them_back():
    assert trigger.streak(True, ["True", "true", 1, "1", "False", True]) == 5
    assert trigger.streak(True, [float("nan"), True]) == 1, "no judgement breaks the streak"
