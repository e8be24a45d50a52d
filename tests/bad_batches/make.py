"""Write the bad-batch corpus: small batches cut from real rows of the embedded source, each
broken in one way. The files are committed; this script only documents (and can redo) how
they were made, byte for byte:

    .venv/bin/python tests/bad_batches/make.py

``base/landed_first.csv`` is the good batch the tests land first (week 1), so that the
duplicate and overlap cases have something to clash with. Every other file is one problem;
tests/test_bad_batches.py says what `iterate land` must do with each.
"""

from __future__ import annotations

import gzip
import io
import struct
import sys
import zlib
from collections.abc import Callable
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SOURCE = HERE.parents[1] / "data/source/flights_weather_2013.csv.gz"
SOURCE_ROWS = 12_500  # 2013-01-01 .. 2013-01-15
TIME, LABEL = "time_hour", "late"
SHELL_NAME = "week 1; rm -rf x $(touch pwned).csv"
HUGE = 10 * 1024 * 1024  # characters in the huge cell


def source() -> pd.DataFrame:
    return pd.read_csv(SOURCE, dtype=str, keep_default_na=False, na_values=[""],
                       nrows=SOURCE_ROWS)


def week(rows: pd.DataFrame, number: int, step: int = 100, offset: int = 0) -> pd.DataFrame:
    """Every ``step``-th row of UTC week ``number`` (1: Jan 1-7, 2: Jan 8-14): ~60 rows,
    enough for contract.min_rows (50) with a few bad ones under max_bad_share (20%)."""
    day = rows[TIME].str.slice(8, 10).astype(int)
    first = 1 + 7 * (number - 1)
    picked = rows[(day >= first) & (day < first + 7)]
    return picked.iloc[offset::step].copy().reset_index(drop=True)


def csv_bytes(frame: pd.DataFrame, encoding: str = "utf-8") -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode(encoding)


def gzipped(data: bytes) -> bytes:
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0) as f:  # reproducible
        f.write(data)
    return out.getvalue()


def ragged(data: bytes, line: int) -> bytes:
    """``data`` with one more field on its ``line``-th line (1-based, the header is line 1)."""
    lines = data.split(b"\n")
    lines[line - 1] += b",extra"
    return b"\n".join(lines)


def png() -> bytes:
    """A real 16x16 grey PNG image."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    pixels = b"".join(b"\x00" + bytes(range(0, 256, 16)) for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 0, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(pixels, 9)) + chunk(b"IEND", b""))


def corpus() -> dict[str, bytes]:
    rows = source()
    w1, w2 = week(rows, 1), week(rows, 2)

    def edit(frame: pd.DataFrame, changes: dict[int, dict[str, str]]) -> pd.DataFrame:
        out = frame.copy()
        for row, cells in changes.items():
            for column, value in cells.items():
                out.loc[row, column] = value
        return out

    files: dict[str, Callable[[], bytes]] = {
        "base/landed_first.csv": lambda: csv_bytes(w1),
        # the file's columns are wrong: refused whole
        "missing_column.csv": lambda: csv_bytes(w2.drop(columns=["distance"])),
        "extra_column.csv": lambda: csv_bytes(w2.assign(tailnum="N14228")),
        "renamed_column.csv": lambda: csv_bytes(w2.rename(columns={"dest": "destination"})),
        "duplicate_column.csv": lambda: csv_bytes(pd.concat(  # distance in miles, then in km
            [w2, (w2["distance"].astype(float) * 1.609344).round(1).astype(str)], axis=1)),
        # a whole column of the wrong type: every row bad, refused (max_bad_share)
        "words_in_numeric_column.csv": lambda: csv_bytes(w2.assign(distance="far")),
        "naive_timestamps.csv": lambda: csv_bytes(
            w2.assign(**{TIME: w2[TIME].str.replace("T", " ").str.removesuffix("Z")})),
        # a few bad rows in a sound file: they are quarantined, the rest lands
        "numbers_with_units.csv": lambda: csv_bytes(edit(w2, {
            3: {"distance": w2.loc[3, "distance"] + " mi"},
            9: {"temp": w2.loc[9, "temp"] + " F"},
            15: {"precip": w2.loc[15, "precip"] + "in"}})),
        "thousands_separators.csv": lambda: csv_bytes(edit(w2, {
            4: {"distance": "1,024"}, 12: {"pressure": "1,012.5"}})),
        "out_of_range.csv": lambda: csv_bytes(edit(w2, {
            2: {"sched_dep_time": "2400"}, 5: {"humid": "101.5"}, 8: {"distance": "-1"},
            11: {"wind_dir": "361"}, 14: {"pressure": "0"}})),
        "missing_label.csv": lambda: csv_bytes(edit(w2, {
            1: {LABEL: ""}, 6: {LABEL: "NaN"}, 10: {LABEL: " "}})),
        "label_outside_classes.csv": lambda: csv_bytes(edit(w2, {
            0: {LABEL: "2"}, 5: {LABEL: "-1"}, 9: {LABEL: "yes"}, 13: {LABEL: "0.5"}})),
        "unparseable_timestamps.csv": lambda: csv_bytes(edit(w2, {
            3: {TIME: "yesterday"}, 7: {TIME: "2013-01-32T10:00:00Z"},
            12: {TIME: "09/01/2013 10:00 +00:00"}})),
        # a typo in the year: a well-formed timestamp, 1000 years off
        "year_typo_timestamp.csv": lambda: csv_bytes(edit(w2, {
            9: {TIME: "3" + w2.loc[9, TIME][1:]}})),
        "formula_injection.csv": lambda: csv_bytes(edit(w2, {
            # bad rows (quarantined): their formula cells must be quoted there
            2: {"distance": "=1+2", "carrier": "@SUM(A1)", "dest": "+cmd|' /C calc'!A0"},
            6: {LABEL: "=HYPERLINK(\"http://x\")", "origin": "-2+3"},
            # a good row (category cells are free text): it lands, in Parquet
            10: {"carrier": "=B1"}})),
        # a real week of rows that are all on time: one class only
        "one_class_label.csv": lambda: csv_bytes(
            week(rows, 2, step=20).query(f"{LABEL} == '0'").iloc[::4].reset_index(drop=True)),
        # clashes with the landed batch
        "duplicate_of_landed.csv": lambda: csv_bytes(w1),
        "overlaps_landed.csv": lambda: csv_bytes(week(rows, 1, offset=50)),
        # not a readable CSV file
        "empty.csv": lambda: b"",
        "header_only.csv": lambda: csv_bytes(w2.head(0)),
        "not_utf8_latin1.csv": lambda: csv_bytes(edit(w2, {5: {"carrier": "Aéro"}}), "latin-1"),
        "truncated.csv.gz": lambda: (lambda z: z[: len(z) // 2])(gzipped(csv_bytes(w2))),
        "png_image.csv": png,
        "ragged_row.csv": lambda: ragged(csv_bytes(w2), line=7),
        "huge_field.csv.gz": lambda: gzipped(csv_bytes(edit(w2, {4: {"dest": "J" * HUGE}}))),
        # the path, not the content, is the problem: both land (one bad row each)
        "dotdot_path.csv": lambda: csv_bytes(edit(w2, {7: {LABEL: "3"}})),
        SHELL_NAME: lambda: csv_bytes(edit(w2, {7: {LABEL: "3"}})),
    }
    return {name: make() for name, make in files.items()}


def main(out: Path = HERE) -> None:
    for name, data in corpus().items():
        path = out / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else HERE)
