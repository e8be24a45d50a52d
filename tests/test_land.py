"""Tests of landing a batch: iterate.repo.landing (read_table, land) in-process, and `iterate land`
in a temporary git + DVC repository.

The repository is built and two batches are landed through the real command once per module
(each `dvc` call costs about a second); tests that need it work on a copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from helpers import DVC_FILE, LABEL, PARAMS_FILE, TIME, contract, sha256, tree_digest, week

from iterate.commands import cli
from iterate.errors import ContractError
from iterate.repo import landing, store

WEEK1 = "2013-01-01_2013-01-07"
WEEK2 = "2013-01-08_2013-01-14"
WEEK3 = "2013-01-15_2013-01-21"
TREES = ("data", "models")


def shifted(frame: pd.DataFrame, days: int) -> pd.DataFrame:
    """``frame`` with its times moved ``days`` later (a batch that does not overlap)."""
    out = frame.copy()
    times = pd.to_datetime(out[TIME], utc=True) + pd.Timedelta(days=days)
    out[TIME] = times.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return out


def with_bad_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with three bad rows (4, 11 and 21 in the file), one carrying formula cells."""
    out = frame.copy()
    out.loc[3, ["distance", "carrier", "dest"]] = ["=1+2", "@SUM(A1)", "+cmd"]
    out.loc[10, LABEL] = "2"
    out.loc[20, TIME] = "2013-01-09 at 10:00"
    return out


def read_text_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


# ================================================================ landing.land in-process


@pytest.fixture
def dirs(tmp_path):
    return SimpleNamespace(raw=tmp_path / "data" / "raw", quarantine=tmp_path / "data" / "q",
                           root=tmp_path)


def land(frame, dirs, sha="sha-1", source="inbox/week.csv", **contract_changes):
    return landing.land(frame, contract(**contract_changes), dirs.raw, dirs.quarantine,
                        sha256=sha, source=source).info


def test_clean_batch_lands_as_parquet_named_by_its_first_and_last_dates(dirs):
    frame = week(1)

    info = land(frame, dirs, sha="abc")

    assert info.id == WEEK1
    assert (info.start, info.end) == (frame[TIME].iloc[0], frame[TIME].iloc[-1])
    assert (info.rows, info.quarantined) == (len(frame), 0)
    assert (info.sha256, info.source) == ("abc", "week.csv")
    assert [p.name for p in dirs.raw.iterdir()] == [f"{WEEK1}.parquet"]
    assert not dirs.quarantine.exists()
    assert store.list_batches(dirs.raw) == [info]


def test_landed_parquet_holds_the_typed_good_rows(dirs):
    frame = week(1)

    land(frame, dirs)

    table = pd.read_parquet(dirs.raw / f"{WEEK1}.parquet")
    assert len(table) == len(frame)
    assert str(table[TIME].dtype).startswith("datetime64") and table[TIME].dt.tz is not None
    assert table[LABEL].tolist() == frame[LABEL].astype(int).tolist()
    assert table["sched_dep_time"].dtype == "int64"


def test_batch_with_bad_rows_lands_good_rows_and_quarantines_each_bad_row_with_a_reason(dirs):
    frame = with_bad_rows(week(2))

    info = land(frame, dirs)

    assert (info.id, info.rows, info.quarantined) == (WEEK2, len(frame) - 3, 3)
    assert len(pd.read_parquet(dirs.raw / f"{WEEK2}.parquet")) == len(frame) - 3
    quarantine = read_text_csv(dirs.quarantine / f"{WEEK2}.csv")
    assert quarantine["source_row"].tolist() == ["4", "11", "21"]
    assert quarantine["reason"].tolist() == [
        "distance: not a number '=1+2'",
        "late: not one of the classes [0, 1]",
        "time_hour: not an ISO 8601 date or timestamp (a zone-less one must exist in "
        "contract.timezone, UTC)",
    ]


@pytest.mark.parametrize(("column", "written"), [
    ("distance", "'=1+2"), ("carrier", "'@SUM(A1)"), ("dest", "'+cmd")])
def test_quarantine_cell_a_spreadsheet_would_run_is_prefixed_with_a_quote(dirs, column, written):
    land(with_bad_rows(week(2)), dirs)

    quarantine = read_text_csv(dirs.quarantine / f"{WEEK2}.csv")
    assert quarantine.loc[0, column] == written


def test_a_huge_cell_is_cut_with_a_marker_and_the_quarantine_stays_small(dirs):
    frame = week(2)
    frame.loc[3, "distance"] = "9" * 3_000_000 + "km"  # 3 MB: stands in for the 300 MB one

    info = land(frame, dirs)

    path = dirs.quarantine / f"{WEEK2}.csv"
    assert info.quarantined == 1
    assert path.stat().st_size < 10 * landing.CELL_CHARS
    row = read_text_csv(path).iloc[0]
    assert row["distance"] == "9" * landing.CELL_CHARS + "...[cut: 3000002 characters]"
    assert row["reason"].endswith("...[cut: 3000027 characters]")
    assert len(row["reason"]) < landing.CELL_CHARS + 40


def test_quarantine_keeps_the_first_rows_and_counts_the_rest_in_the_file(dirs):
    frame = week(2, step=1)
    frame.loc[frame.index % 3 == 0, LABEL] = "2"

    info = land(frame, dirs, max_bad_share=0.5)

    quarantine = read_text_csv(dirs.quarantine / f"{info.id}.csv")
    rest = info.quarantined - landing.QUARANTINE_ROWS
    assert rest > 0
    assert len(quarantine) == landing.QUARANTINE_ROWS + 1
    assert quarantine["source_row"].iloc[landing.QUARANTINE_ROWS - 1] == str(3 * 999 + 1)
    assert quarantine["reason"].iloc[-1] == \
        f"{rest} more bad rows not kept (the quarantine keeps the first 1000)"
    assert set(quarantine.iloc[-1].drop("reason")) == {""}


def test_landing_message_says_how_many_bad_rows_the_quarantine_did_not_keep(capsys):
    from iterate.commands.land import _say_landed
    from iterate.core.batches import BatchInfo

    info = BatchInfo(id=WEEK2, start="a", end="b", rows=4000, quarantined=1500, sha256="s",
                     source="x.csv", landed_at="t")
    _say_landed(info)

    assert capsys.readouterr().out.rstrip().endswith(
        f"1500 bad rows -> data/quarantine/{WEEK2}.csv (500 more bad rows not kept (the "
        "quarantine keeps the first 1000))")


def test_next_weeks_batch_lands_beside_the_first(dirs):
    first = land(week(1), dirs, sha="one")
    second = land(week(2), dirs, sha="two")

    assert [b.id for b in store.list_batches(dirs.raw)] == [first.id, second.id] == [WEEK1, WEEK2]


def test_same_content_twice_is_refused_as_already_landed_and_writes_nothing(dirs):
    land(week(1), dirs, sha="same")
    before = tree_digest(dirs.root, "data")

    with pytest.raises(ContractError) as caught:
        land(week(2), dirs, sha="same", source="inbox/again.csv")

    assert str(caught.value).startswith(f"inbox/again.csv: already landed as batch {WEEK1}")
    assert tree_digest(dirs.root, "data") == before


def test_different_batch_overlapping_a_landed_range_is_refused_and_writes_nothing(dirs):
    land(week(1), dirs, sha="one")
    before = tree_digest(dirs.root, "data")

    with pytest.raises(ContractError) as caught:
        land(with_bad_rows(week(1, offset=7)), dirs, sha="other", source="inbox/late.csv")

    message = str(caught.value)
    assert message.startswith("inbox/late.csv: covers 2013-01-01")
    assert f"overlaps landed batch {WEEK1}" in message
    assert tree_digest(dirs.root, "data") == before


def test_batch_refused_for_too_many_bad_rows_writes_nothing(dirs):
    frame = week(1)
    frame["distance"] = "far"

    with pytest.raises(ContractError, match="break the contract"):
        land(frame, dirs)

    assert tree_digest(dirs.root, "data") == {}


def test_two_non_overlapping_batches_on_the_same_day_both_stay_landed(dirs):
    day = week(1, step=1)
    day = day[day[TIME].str.startswith("2013-01-01")].reset_index(drop=True)
    morning = day[day[TIME] < "2013-01-01T15:00:00Z"].reset_index(drop=True)
    evening = day[day[TIME] >= "2013-01-01T18:00:00Z"].reset_index(drop=True)

    land(morning, dirs, sha="morning")
    land(evening, dirs, sha="evening")

    landed = store.list_batches(dirs.raw)
    assert sum(b.rows for b in landed) == len(morning) + len(evening)


def test_batch_without_a_single_good_row_is_refused_with_a_contract_error(dirs):
    frame = week(1).head(20)
    frame[LABEL] = "maybe"

    with pytest.raises(ContractError):
        land(frame, dirs, min_rows=0, max_bad_share=1.0)


# ================================================================ read_table


def test_csv_is_read_as_text_exactly_as_written(tmp_path):
    path = tmp_path / "batch.csv"
    path.write_text('a,b,c\n"1,024",007,\n12 mi, x ,NA\n', encoding="utf-8")

    frame = landing.read_table(path)

    assert frame["a"].tolist() == ["1,024", "12 mi"]
    assert frame["b"].tolist() == ["007", " x "]
    assert pd.isna(frame.loc[0, "c"]) and frame.loc[1, "c"] == "NA"


def test_gzipped_csv_and_parquet_read_back_the_same_rows(tmp_path):
    frame = week(1).head(50)
    frame.to_csv(tmp_path / "b.csv.gz", index=False)
    frame.to_parquet(tmp_path / "b.parquet")

    from_gz = landing.read_table(tmp_path / "b.csv.gz")
    from_parquet = landing.read_table(tmp_path / "b.parquet")

    assert from_gz.astype(object).equals(frame.astype(object))
    assert from_parquet.astype(object).equals(frame.astype(object))


@pytest.mark.parametrize(("name", "content", "expected"), [
    ("batch.xlsx", b"time_hour\n", "unknown file type"),
    ("batch.csv", b"", "the file is empty"),
    ("batch.csv", "time_hour,late\n2013-01-01T10:00:00Z,caf\xe9\n".encode("latin-1"),
     "not UTF-8 text"),
    ("batch.csv", b"a,b\n1,2\n3,4,5\n", "cannot be read as CSV"),
    ("batch.csv.gz", b"\x1f\x8b\x08\x00truncated", "cannot be read as CSV"),
    ("batch.parquet", b"PAR1 not really", "cannot be read as Parquet"),
])
def test_unreadable_file_is_refused_naming_the_file_and_the_problem(tmp_path, name, content,
                                                                    expected):
    path = tmp_path / name
    path.write_bytes(content)

    with pytest.raises(ContractError) as caught:
        landing.read_table(path)

    assert str(caught.value).startswith(f"{path}: {expected}")
    assert "\n" not in str(caught.value)


def test_missing_file_is_refused_naming_it(tmp_path):
    with pytest.raises(ContractError, match="missing.csv: cannot be read"):
        landing.read_table(tmp_path / "missing.csv")


def test_header_only_csv_reads_as_no_rows_and_is_refused_by_the_contract(tmp_path):
    path = tmp_path / "batch.csv"
    week(1).head(0).to_csv(path, index=False)

    frame = landing.read_table(path)

    assert frame.empty and list(frame.columns) == list(week(1).columns)
    with pytest.raises(ContractError, match="no data rows"):
        land(frame, SimpleNamespace(raw=tmp_path / "raw", quarantine=tmp_path / "q"))


# ================================================================ `iterate land`


def _env() -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1"}


def _start(root: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "iterate.commands.cli", *args], cwd=root,
                            env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> SimpleNamespace:
    stdout, stderr = process.communicate(timeout=120)
    return SimpleNamespace(returncode=process.returncode, stdout=stdout, stderr=stderr)


@pytest.fixture(scope="module")
def landed(tmp_path_factory):
    """A git + DVC repository where `iterate land` landed week 1 (clean) and week 2 (3 bad).

    At the same time (the second core is free while DVC works), `iterate land` is refused a
    file with a missing column in a copy of the repository as it was before landing.
    """
    root = tmp_path_factory.mktemp("landed")
    shutil.copy(PARAMS_FILE, root)
    shutil.copy(DVC_FILE, root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    dvc_init = subprocess.Popen([sys.executable, "-m", "dvc", "init", "-q"], cwd=root,
                                env=_env())
    inbox = root / "inbox"  # written while DVC starts up
    inbox.mkdir()
    week(1).to_csv(inbox / "week1.csv", index=False)
    with_bad_rows(week(2)).to_csv(inbox / "week2.csv", index=False)
    inputs = {name: sha256(inbox / name) for name in ("week1.csv", "week2.csv")}
    assert dvc_init.wait(timeout=120) == 0
    refused_root = tmp_path_factory.mktemp("refused")
    shutil.copytree(root, refused_root, symlinks=True, dirs_exist_ok=True)
    week(1).drop(columns=["distance"]).to_csv(refused_root / "inbox/no_distance.csv", index=False)
    refused_before = tree_digest(refused_root, *TREES)

    landing_run = _start(root, "land", "inbox/week1.csv", "inbox/week2.csv")
    refused_run = _start(refused_root, "land", "inbox/no_distance.csv")

    return SimpleNamespace(root=root, result=_finish(landing_run), inputs=inputs,
                           refused=SimpleNamespace(root=refused_root, before=refused_before,
                                                   result=_finish(refused_run)))


@pytest.fixture
def repo(landed, tmp_path, monkeypatch):
    """A copy of the landed repository, as the working directory."""
    copy = tmp_path / "repo"
    shutil.copytree(landed.root, copy, symlinks=True)
    monkeypatch.chdir(copy)
    return copy


def test_land_command_lands_both_files_and_says_where(landed):
    result = landed.result

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"landed {WEEK1}: {len(week(1))} rows (2013-01-01T")
    assert lines[0].endswith(f"-> data/raw/{WEEK1}.parquet")
    assert lines[1].endswith(f", 3 bad rows -> data/quarantine/{WEEK2}.csv")


def test_land_command_writes_one_parquet_per_batch_and_data_raw_dvc(landed):
    raw = landed.root / "data" / "raw"

    assert sorted(p.name for p in raw.iterdir()) == [f"{WEEK1}.parquet", f"{WEEK2}.parquet"]
    tracked = yaml.safe_load((landed.root / "data" / "raw.dvc").read_text(encoding="utf-8"))
    assert tracked["outs"][0]["path"] == "raw"
    assert tracked["outs"][0]["nfiles"] == 2


def test_land_command_records_each_files_hash_and_name_in_the_batch(landed):
    batches = store.list_batches(landed.root / "data" / "raw")

    assert [(b.id, b.source, b.sha256) for b in batches] == [
        (WEEK1, "week1.csv", landed.inputs["week1.csv"]),
        (WEEK2, "week2.csv", landed.inputs["week2.csv"]),
    ]
    metadata = pq.read_schema(landed.root / "data" / "raw" / f"{WEEK1}.parquet").metadata
    assert store.META_KEY in metadata


def test_land_command_quarantines_only_the_batch_with_bad_rows(landed):
    quarantine = landed.root / "data" / "quarantine"

    assert [p.name for p in quarantine.iterdir()] == [f"{WEEK2}.csv"]
    bad = read_text_csv(quarantine / f"{WEEK2}.csv")
    assert bad["source_row"].tolist() == ["4", "11", "21"]
    assert all(reason.split(":")[0] in bad.columns for reason in bad["reason"])


def test_land_command_defuses_formula_cells_in_the_quarantine_file(landed):
    text = (landed.root / "data" / "quarantine" / f"{WEEK2}.csv").read_text(encoding="utf-8")
    row = text.splitlines()[1]

    assert ",'=1+2," in row and ",'@SUM(A1)," in row and ",'+cmd," in row
    assert ",=1+2," not in row


def test_land_command_leaves_the_input_files_unchanged(landed):
    inbox = landed.root / "inbox"

    assert {name: sha256(inbox / name) for name in landed.inputs} == landed.inputs


# ---------------------------------------------------------------- refused inputs


def _write_csv(frame: pd.DataFrame, name: str) -> str:
    path = Path("inbox") / name
    frame.to_csv(path, index=False)
    return str(path)


def _wrong_columns():
    return _write_csv(shifted(week(1), 14).drop(columns=["distance"]), "no_distance.csv")


def _extra_column():
    frame = shifted(week(1), 14)
    frame["tailnum"] = "N14228"
    return _write_csv(frame, "tailnum.csv")


def _words_in_a_number_column():
    frame = shifted(week(1), 14)
    frame["distance"] = "far away"
    return _write_csv(frame, "words.csv")


def _unknown_labels():
    frame = shifted(week(1), 14)
    frame[LABEL] = frame[LABEL].map({"0": "no", "1": "yes"})
    return _write_csv(frame, "labels.csv")


def _empty_file():
    Path("inbox/empty.csv").write_bytes(b"")
    return "inbox/empty.csv"


def _header_only():
    return _write_csv(week(1).head(0), "header.csv")


def _same_file_again():
    return "inbox/week1.csv"


def _same_bytes_other_name():
    shutil.copy("inbox/week2.csv", "inbox/week2-copy.csv")
    return "inbox/week2-copy.csv"


def _overlapping_other_file():
    return _write_csv(week(1, offset=5), "week1-other.csv")


def _missing_file():
    return "inbox/nowhere.csv"


def _unknown_extension():
    shifted(week(1), 14).to_csv("inbox/week3.xlsx", index=False)
    return "inbox/week3.xlsx"


def _a_folder():
    Path("inbox/folder.csv").mkdir()
    return "inbox/folder.csv"


def _not_utf8():
    Path("inbox/latin1.csv").write_bytes("time_hour,carrier\nx,caf\xe9\n".encode("latin-1"))
    return "inbox/latin1.csv"


REFUSED = {
    "wrong columns": (_wrong_columns, "missing column(s) 'distance'"),
    "extra column": (_extra_column, "column(s) 'tailnum' are not in the contract"),
    "words in a number column": (_words_in_a_number_column, "rows break the contract"),
    "unknown label values": (_unknown_labels, "late: not one of the classes"),
    "empty file": (_empty_file, "the file is empty"),
    "header only": (_header_only, "no data rows"),
    "same file twice": (_same_file_again, f"already landed as batch {WEEK1}"),
    "same bytes, other name": (_same_bytes_other_name, f"already landed as batch {WEEK2}"),
    "overlapping file": (_overlapping_other_file, f"overlaps landed batch {WEEK1}"),
    "missing file": (_missing_file, "no such file"),
    "unknown extension": (_unknown_extension, "unknown file type"),
    "a folder": (_a_folder, "a folder without Parquet files"),
    "not UTF-8": (_not_utf8, "not UTF-8 text"),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_refused_input_exits_non_zero_with_one_error_line_and_changes_nothing(repo, capsys,
                                                                              case):
    make, problem = REFUSED[case]
    path = make()
    before = tree_digest(repo, *TREES)

    code = cli.main(["land", path])

    out, err = capsys.readouterr()
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err.startswith(f"error: {path}: ")
    assert problem in err
    assert tree_digest(repo, *TREES) == before


def test_refused_input_through_the_command_prints_one_error_line_and_changes_nothing(landed):
    result = landed.refused.result

    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert result.stderr.startswith("error: inbox/no_distance.csv: missing column(s) 'distance'")
    assert tree_digest(landed.refused.root, *TREES) == landed.refused.before


def test_refused_second_file_leaves_data_unchanged(repo):
    good = _write_csv(shifted(week(1), 14), "week3.csv")
    before = tree_digest(repo, *TREES)

    code = cli.main(["land", good, "inbox/week1.csv"])

    assert code == 2
    assert tree_digest(repo, *TREES) == before
