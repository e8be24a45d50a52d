"""Tests of iterate.core.contract.validate: good rows come out typed, each bad row comes out as it
came with its 1-based source row and a reason naming the column, and batch-level problems
refuse the whole batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from helpers import LABEL, TIME, contract, source_rows

from iterate.core.contract import required_columns, validate
from iterate.errors import ContractError
from iterate.params import Column

ROWS = 100
ROW = 4  # the 0-based row the violation tests break: source row 5
NOT_A_TIME = ("time_hour: not an ISO 8601 date or timestamp (a zone-less one must exist in "
              "contract.timezone, UTC)")


@pytest.fixture(scope="module")
def shipped():
    return contract()


@pytest.fixture
def sample():
    return source_rows(ROWS)


# ---------------------------------------------------------------- a clean batch


def test_clean_sample_is_all_good_and_nothing_is_bad(sample, shipped):
    result = validate(sample, shipped)

    assert len(result.good) == ROWS
    assert result.bad.empty
    assert list(result.good.columns) == required_columns(shipped)


def test_good_rows_are_typed_time_utc_ints_int64_floats_float64_label_int64(sample, shipped):
    good = validate(sample, shipped).good

    assert str(good[TIME].dtype) == "datetime64[us, UTC]"
    assert good["sched_dep_time"].dtype == np.int64
    assert good[LABEL].dtype == np.int64
    assert good["distance"].dtype == np.float64
    assert good["temp"].dtype == np.float64
    assert pd.api.types.is_string_dtype(good["carrier"])


def test_good_values_are_the_values_written(sample, shipped):
    good = validate(sample, shipped).good

    first = sample.iloc[0]
    assert good[TIME].iloc[0] == pd.Timestamp(first[TIME])
    assert good["sched_dep_time"].iloc[0] == int(first["sched_dep_time"])
    assert good["carrier"].iloc[0] == first["carrier"]
    assert good["distance"].iloc[0] == float(first["distance"])
    assert good[LABEL].tolist() == sample[LABEL].astype(int).tolist()


def test_time_with_an_offset_is_converted_to_utc(sample, shipped):
    sample[TIME] = sample[TIME].iloc[0]  # every row the same instant, 10:00 UTC
    sample.loc[ROW, TIME] = "2013-01-01T05:00:00-05:00"  # the same instant, New York time

    good = validate(sample, shipped).good

    assert (good[TIME] == pd.Timestamp("2013-01-01T10:00:00Z")).all()


def test_good_rows_come_out_in_time_order(sample, shipped):
    shuffled = sample.iloc[::-1].reset_index(drop=True)

    good = validate(shuffled, shipped).good

    assert good[TIME].is_monotonic_increasing


def test_missing_value_in_a_nullable_column_is_good_and_becomes_nan(sample, shipped):
    sample.loc[ROW, "temp"] = np.nan

    result = validate(sample, shipped)

    assert result.bad.empty
    assert result.good["temp"].isna().sum() == sample["temp"].isna().sum()


def test_typed_frame_as_read_from_parquet_validates_unchanged(sample, shipped):
    good = validate(sample, shipped).good

    again = validate(good, shipped)

    assert again.bad.empty
    pd.testing.assert_frame_equal(again.good, good)


# ---------------------------------------------------------------- row-level violations


@pytest.mark.parametrize(("column", "value", "reason"), [
    ("distance", "12 mi", "distance: not a number '12 mi'"),
    ("distance", "1,024", "distance: not a number '1,024'"),
    ("sched_dep_time", "5.5", "sched_dep_time: not a whole number"),
    ("temp", "-60.5", "temp: below the minimum -60"),
    ("humid", "100.5", "humid: above the maximum 100"),
    ("sched_dep_time", "2400", "sched_dep_time: above the maximum 2359"),
    ("carrier", np.nan, "carrier: missing (not nullable)"),
    ("distance", "   ", "distance: missing (not nullable)"),
    (LABEL, "2", "late: not one of the classes [0, 1]"),
    (LABEL, "yes", "late: not one of the classes [0, 1]"),
    (LABEL, np.nan, "late: missing label"),
    (TIME, "next tuesday", NOT_A_TIME),
    (TIME, "2013-02-30T10:00:00Z", NOT_A_TIME),
    (TIME, "2013-02-30", NOT_A_TIME),
    (TIME, "08/11/1992", NOT_A_TIME),
    (TIME, "2013-01-01T10:00:00+25:00", NOT_A_TIME),
])
def test_row_violation_goes_to_bad_with_source_row_and_reason_naming_column(
        sample, shipped, column, value, reason):
    sample.loc[ROW, column] = value

    result = validate(sample, shipped)

    assert len(result.good) == ROWS - 1
    assert len(result.bad) == 1
    bad = result.bad.iloc[0]
    assert bad["source_row"] == ROW + 1
    assert bad["reason"] == reason


def test_bad_row_is_kept_as_it_came(sample, shipped):
    sample.loc[ROW, "distance"] = "12 mi"
    original = sample.iloc[ROW].copy()

    bad = validate(sample, shipped).bad

    assert list(bad.columns) == ["source_row", *required_columns(shipped), "reason"]
    kept = bad.iloc[0][required_columns(shipped)]
    assert kept.to_dict() == original.to_dict()


def test_infinite_number_is_bad_naming_the_column(sample, shipped):
    sample.loc[ROW, "distance"] = "inf"

    bad = validate(sample, shipped).bad

    assert bad["source_row"].tolist() == [ROW + 1]
    assert bad.iloc[0]["reason"].startswith("distance: infinite")


def test_several_violations_on_one_row_are_joined_in_one_reason(sample, shipped):
    sample.loc[ROW, "distance"] = "12 mi"
    sample.loc[ROW, "carrier"] = np.nan
    sample.loc[ROW, LABEL] = "2"

    bad = validate(sample, shipped).bad

    assert len(bad) == 1
    assert bad.iloc[0]["reason"] == ("carrier: missing (not nullable); "
                                     "distance: not a number '12 mi'; "
                                     "late: not one of the classes [0, 1]")


def test_source_rows_of_several_bad_rows_are_their_1_based_positions(sample, shipped):
    for position in (0, 9, 99):
        sample.loc[position, "origin"] = np.nan

    bad = validate(sample, shipped).bad

    assert bad["source_row"].tolist() == [1, 10, 100]
    assert (bad["reason"] == "origin: missing (not nullable)").all()


def test_category_outside_its_allowed_values_is_bad_naming_the_column(sample):
    columns = {**contract().columns,
               "origin": Column(dtype="category", values=["EWR", "LGA", "JFK"])}
    strict = contract(columns=columns)
    sample.loc[ROW, "origin"] = "BOS"

    bad = validate(sample, strict).bad

    assert bad["source_row"].tolist() == [ROW + 1]
    assert bad["reason"].tolist() == ["origin: not one of the allowed values"]


# ---------------------------------------------------------------- zone-less times


def test_date_only_time_column_lands_as_midnight_utc_by_default(sample, shipped):
    sample[TIME] = [f"1992-11-{1 + i % 28:02d}" for i in range(ROWS)]

    result = validate(sample, shipped)

    assert result.bad.empty
    assert result.good[TIME].min() == pd.Timestamp("1992-11-01T00:00:00Z")
    assert result.good[TIME].max() == pd.Timestamp("1992-11-28T00:00:00Z")


def test_zone_less_times_are_read_in_contract_timezone(sample):
    sample[TIME] = ["2013-01-15 10:00"] * (ROWS // 2) + ["2013-07-15T10:00:00"] * (ROWS // 2)
    sample.loc[0, TIME] = "2013-01-15"
    sample.loc[1, TIME] = "2013-01-15T10:00:00-05:00"  # a zone of its own is kept

    good = validate(sample, contract(timezone="Europe/Paris")).good

    assert set(good[TIME]) == {pd.Timestamp("2013-01-14T23:00:00Z"),  # midnight, winter: +1
                               pd.Timestamp("2013-01-15T09:00:00Z"),
                               pd.Timestamp("2013-01-15T15:00:00Z"),
                               pd.Timestamp("2013-07-15T08:00:00Z")}  # summer: +2


def test_wall_clock_time_the_zone_skips_is_a_bad_row_naming_the_zone(sample):
    sample.loc[ROW, TIME] = "2013-03-31 02:30"  # clocks jump from 02:00 to 03:00 in Paris

    bad = validate(sample, contract(timezone="Europe/Paris")).bad

    assert bad["source_row"].tolist() == [ROW + 1]
    assert "contract.timezone, Europe/Paris" in bad["reason"].iloc[0]


def test_zone_less_datetime_column_from_parquet_is_read_in_contract_timezone(sample):
    sample[TIME] = pd.to_datetime(sample[TIME], utc=True).dt.tz_localize(None)

    good = validate(sample, contract(timezone="America/New_York")).good

    expected = pd.to_datetime(source_rows(ROWS)[TIME], utc=True) + pd.Timedelta(hours=5)
    assert sorted(good[TIME]) == sorted(expected)


# ---------------------------------------------------------------- one class


def test_one_class_batch_lands_with_a_warning_naming_the_batch_and_the_class(sample, shipped):
    sample[LABEL] = "0"

    result = validate(sample, shipped, where="dry.csv")

    assert len(result.good) == ROWS
    assert result.warnings == ("the label 'late' holds one class only (0); it lands and later "
                               "models train on it, but it is skipped as a holdout",)


def test_batch_with_both_classes_has_no_warning(sample, shipped):
    assert validate(sample, shipped).warnings == ()


# ---------------------------------------------------------------- batch-level refusals


def test_missing_column_refuses_the_batch_naming_the_column(sample, shipped):
    with pytest.raises(ContractError) as caught:
        validate(sample.drop(columns=["distance"]), shipped, where="week.csv")

    message = str(caught.value)
    assert message.startswith("week.csv: missing column(s) 'distance'")
    assert "change contract.columns in params.yaml" in message


@pytest.mark.parametrize(("column", "key"), [(LABEL, "contract.label"),
                                             (TIME, "contract.time_column")])
def test_missing_label_or_time_column_names_the_key_that_names_it(sample, shipped, column, key):
    with pytest.raises(ContractError) as caught:
        validate(sample.drop(columns=[column]), shipped, where="week.csv")

    message = str(caught.value)
    assert f"change {key} in params.yaml" in message
    assert "contract.columns" not in message


def test_more_bad_rows_than_max_bad_share_names_the_key_to_raise(sample, shipped):
    sample.loc[:20, "distance"] = "far"

    with pytest.raises(ContractError, match=r"contract\.max_bad_share\)$"):
        validate(sample, shipped)


def test_extra_column_is_refused_by_default_naming_it(sample, shipped):
    sample["tailnum"] = "N14228"

    with pytest.raises(ContractError) as caught:
        validate(sample, shipped, where="week.csv")

    assert str(caught.value).startswith("week.csv: column(s) 'tailnum' are not in the contract")
    assert "extra_columns: drop" in str(caught.value)


def test_extra_column_is_dropped_when_the_contract_says_drop(sample):
    sample["tailnum"] = "N14228"

    result = validate(sample, contract(extra_columns="drop"))

    assert "tailnum" not in result.good.columns
    assert len(result.good) == ROWS


def test_header_only_frame_is_refused_as_having_no_data_rows(sample, shipped):
    with pytest.raises(ContractError) as caught:
        validate(sample.head(0), shipped, where="week.csv")

    assert str(caught.value).startswith("week.csv: no data rows")


def test_more_bad_rows_than_max_bad_share_refuses_the_batch(sample, shipped):
    sample.loc[:20, "distance"] = "far"  # 21 of 100 rows > 20%

    with pytest.raises(ContractError) as caught:
        validate(sample, shipped, where="week.csv")

    message = str(caught.value)
    assert message.startswith("week.csv: 21 of 100 rows break the contract")
    assert "max_bad_share 20%" in message
    assert "row 1: distance: not a number 'far'" in message


def test_bad_rows_exactly_at_max_bad_share_are_accepted(sample, shipped):
    sample.loc[:19, "distance"] = "far"  # 20 of 100 rows = 20%

    result = validate(sample, shipped)

    assert (len(result.good), len(result.bad)) == (80, 20)


def test_fewer_good_rows_than_min_rows_refuses_the_batch(shipped):
    small = source_rows(shipped.min_rows - 1)

    with pytest.raises(ContractError) as caught:
        validate(small, shipped, where="small.csv")

    assert str(caught.value).startswith(
        f"small.csv: only {shipped.min_rows - 1} good rows, fewer than contract.min_rows "
        f"({shipped.min_rows})")


def test_min_rows_counts_good_rows_only(shipped):
    frame = source_rows(shipped.min_rows + 1)
    frame.loc[:1, "distance"] = "far"  # 2 bad rows leave min_rows - 1 good

    with pytest.raises(ContractError, match="good rows, fewer than contract.min_rows"):
        validate(frame, shipped)
