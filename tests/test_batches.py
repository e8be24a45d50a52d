"""Tests of core.batches (split, overlap, ids) and core.replay (cutting the source into
weekly batches as if they had arrived one by one)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pandas as pd
import pytest

from iterate.core import batches, replay
from iterate.core.batches import BatchInfo


def info(start: str, end: str, rows: int = 100) -> BatchInfo:
    """A batch covering ``start`` .. ``end`` (ISO 8601 UTC)."""
    return BatchInfo(id=f"{start[:10]}_{end[:10]}", start=start, end=end, rows=rows,
                     quarantined=0, sha256=f"sha-{start}", source="x.csv",
                     landed_at="2024-01-01T00:00:00Z")


def weekly(count: int) -> list[BatchInfo]:
    """``count`` consecutive weekly batches from 2013-01-01, oldest first."""
    first = datetime(2013, 1, 1, tzinfo=UTC)
    out = []
    for i in range(count):
        start = first + timedelta(days=7 * i)
        end = start + timedelta(days=7) - timedelta(hours=1)
        out.append(info(batches.iso(start), batches.iso(end)))
    return out


# ---------------------------------------------------------------- split


def test_split_holds_out_the_newest_batch_and_trains_on_the_window_before_it():
    landed = weekly(12)
    shuffled = random.Random(0).sample(landed, len(landed))

    split = batches.split(shuffled, 8)

    assert split.holdout == landed[-1]
    assert split.train == landed[3:11]


def test_split_with_window_all_trains_on_every_earlier_batch():
    landed = weekly(12)

    split = batches.split(landed, "all")

    assert split.holdout == landed[-1]
    assert split.train == landed[:-1]


def test_split_with_a_window_wider_than_history_trains_on_every_earlier_batch():
    landed = weekly(3)

    split = batches.split(landed, 8)

    assert split.train == landed[:2]


def test_split_with_window_one_trains_on_the_batch_just_before_the_holdout():
    landed = weekly(5)

    split = batches.split(landed, 1)

    assert split.train == [landed[3]]
    assert split.holdout == landed[4]


@pytest.mark.parametrize("count", [0, 1])
def test_split_refuses_fewer_than_two_batches(count):
    with pytest.raises(ValueError, match=f"need at least 2 landed batches.*have {count}"):
        batches.split(weekly(count), 8)


def test_in_order_sorts_by_start_time():
    landed = weekly(4)

    assert batches.in_order(landed[::-1]) == landed


# ---------------------------------------------------------------- overlap


LANDED = [info("2013-01-08T00:00:00Z", "2013-01-14T23:00:00Z")]


@pytest.mark.parametrize(("start", "end"), [
    ("2013-01-01T00:00:00Z", "2013-01-07T23:00:00Z"),  # the week before, adjacent
    ("2013-01-15T00:00:00Z", "2013-01-21T23:00:00Z"),  # the week after, adjacent
    ("2013-01-14T23:00:01Z", "2013-01-15T05:00:00Z"),  # one second after its end
    ("2012-12-01T00:00:00Z", "2013-01-07T23:59:59Z"),  # one second before its start
])
def test_adjacent_or_disjoint_range_does_not_overlap(start, end):
    assert batches.overlapping(start, end, LANDED) is None


@pytest.mark.parametrize(("start", "end"), [
    ("2013-01-05T00:00:00Z", "2013-01-08T00:00:00Z"),  # ends at its first instant
    ("2013-01-14T23:00:00Z", "2013-01-20T00:00:00Z"),  # starts at its last instant
    ("2013-01-10T00:00:00Z", "2013-01-11T00:00:00Z"),  # inside it
    ("2013-01-01T00:00:00Z", "2013-01-31T00:00:00Z"),  # around it
    ("2013-01-08T00:00:00Z", "2013-01-14T23:00:00Z"),  # the same range
])
def test_range_meeting_a_landed_batch_overlaps_it(start, end):
    assert batches.overlapping(start, end, LANDED) == LANDED[0]


def test_overlapping_returns_the_first_clashing_batch():
    landed = weekly(3)

    clash = batches.overlapping("2013-01-07T00:00:00Z", "2013-01-16T00:00:00Z", landed)

    assert clash == landed[0]


# ---------------------------------------------------------------- ids and records


def test_batch_id_is_the_first_and_last_dates():
    start = datetime(2013, 1, 1, 10, tzinfo=UTC)
    end = datetime(2013, 1, 7, 23, tzinfo=UTC)

    assert batches.batch_id(start, end) == "2013-01-01_2013-01-07"


def test_iso_writes_utc_with_a_z_suffix():
    new_york = timezone(timedelta(hours=-5))

    assert batches.iso(datetime(2013, 1, 1, 20, 30, tzinfo=new_york)) == "2013-01-02T01:30:00Z"


def test_batch_info_survives_a_json_round_trip():
    original = weekly(1)[0]

    assert BatchInfo.from_json(original.to_json()) == original
    assert BatchInfo.from_json(original.to_json().encode()) == original


def test_summary_names_batches_in_order_with_range_and_rows():
    landed = weekly(3)

    assert batches.summary(landed[::-1]) == {
        "batches": [b.id for b in landed], "start": landed[0].start, "end": landed[-1].end,
        "rows": 300}


# ---------------------------------------------------------------- replay.pending


def hourly(first: str, last: str) -> pd.DataFrame:
    """One row per hour from ``first`` to ``last`` (UTC), as text like a read CSV."""
    times = pd.date_range(first, last, freq="h", tz="UTC")
    return pd.DataFrame({
        "time_hour": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "n": [str(i) for i in range(len(times))],
    })


@pytest.fixture(scope="module")
def history():
    # starts mid-morning on Jan 1: batches are still cut at midnights counted from Jan 1 00:00
    return hourly("2013-01-01T10:00", "2013-01-20T23:00")


def _ranges(frames):
    return [(f["time_hour"].iloc[0], f["time_hour"].iloc[-1]) for f in frames]


def test_pending_cuts_weekly_batches_from_the_first_midnight(history):
    frames = replay.pending(history, "time_hour", 7, after=None)

    assert _ranges(frames) == [
        ("2013-01-01T10:00:00Z", "2013-01-07T23:00:00Z"),
        ("2013-01-08T00:00:00Z", "2013-01-14T23:00:00Z"),
        ("2013-01-15T00:00:00Z", "2013-01-20T23:00:00Z"),
    ]


def test_pending_batches_are_the_source_rows_unchanged_and_complete(history):
    frames = replay.pending(history, "time_hour", 7, after=None)

    assert all(f.index.tolist() == list(range(len(f))) for f in frames)
    pd.testing.assert_frame_equal(pd.concat(frames, ignore_index=True), history)


def test_pending_with_one_day_batches_cuts_at_every_midnight(history):
    frames = replay.pending(history, "time_hour", 1, after=None)

    assert len(frames) == 20
    assert _ranges(frames)[1] == ("2013-01-02T00:00:00Z", "2013-01-02T23:00:00Z")


def test_pending_skips_what_has_landed(history):
    frames = replay.pending(history, "time_hour", 7, after="2013-01-07T23:00:00Z")

    assert _ranges(frames) == [
        ("2013-01-08T00:00:00Z", "2013-01-14T23:00:00Z"),
        ("2013-01-15T00:00:00Z", "2013-01-20T23:00:00Z"),
    ]


def test_pending_after_a_mid_batch_time_starts_with_the_rest_of_that_batch(history):
    frames = replay.pending(history, "time_hour", 7, after="2013-01-10T12:00:00Z")

    assert _ranges(frames)[0] == ("2013-01-10T13:00:00Z", "2013-01-14T23:00:00Z")


def test_pending_after_the_last_row_is_empty(history):
    assert replay.pending(history, "time_hour", 7, after="2013-01-20T23:00:00Z") == []


def test_pending_through_a_date_stops_before_batches_starting_after_that_day(history):
    frames = replay.pending(history, "time_hour", 7, after=None, through="2013-01-10")

    assert _ranges(frames)[-1] == ("2013-01-08T00:00:00Z", "2013-01-14T23:00:00Z")
    assert len(frames) == 2


def test_pending_through_a_date_includes_a_batch_starting_on_that_day(history):
    frames = replay.pending(history, "time_hour", 7, after=None, through="2013-01-08")

    assert len(frames) == 2


def test_pending_through_a_date_leaves_a_batch_starting_at_the_next_midnight(history):
    frames = replay.pending(history, "time_hour", 7, after=None, through="2013-01-07")

    assert _ranges(frames) == [("2013-01-01T10:00:00Z", "2013-01-07T23:00:00Z")]


def test_pending_passes_a_row_with_an_unparseable_time_on_to_the_contract(history):
    source = history.copy()
    source.loc[5, "time_hour"] = "not a time"

    frames = replay.pending(source, "time_hour", 7, after=None)

    assert sum(len(f) for f in frames) == len(source)


def test_pending_cuts_zone_less_times_at_midnights_of_contract_timezone():
    wall = pd.date_range("2013-01-01T00:00", "2013-01-14T23:00", freq="h")
    source = pd.DataFrame({"time_hour": wall.strftime("%Y-%m-%d %H:%M")})

    frames = replay.pending(source, "time_hour", 7, after=None, timezone="Europe/Paris")

    assert _ranges(frames) == [("2013-01-01 00:00", "2013-01-07 23:00"),
                               ("2013-01-08 00:00", "2013-01-14 23:00")]


def test_pending_of_date_only_times_after_a_landed_end_skips_those_days():
    days = pd.date_range("2013-01-01", "2013-01-21", freq="D").strftime("%Y-%m-%d")
    source = pd.DataFrame({"time_hour": days})

    frames = replay.pending(source, "time_hour", 7, after="2013-01-06T23:00:00Z",
                            timezone="Europe/Paris")  # the 7th's midnight in Paris

    assert _ranges(frames) == [("2013-01-08", "2013-01-14"), ("2013-01-15", "2013-01-21")]


def test_content_sha256_is_the_same_for_the_same_rows_and_differs_for_others(history):
    a, b = history.head(50), history.head(50).copy()
    changed = b.copy()
    changed.loc[3, "n"] = "x"

    assert replay.content_sha256(a) == replay.content_sha256(b)
    assert replay.content_sha256(a) != replay.content_sha256(changed)
