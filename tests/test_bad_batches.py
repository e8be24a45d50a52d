"""Every file of the bad-batch corpus (tests/bad_batches/, made by its make.py from real rows of
the embedded source) landed with the real `iterate land` in a temporary git + DVC repository.

A file is either refused whole (one `error:` line on stderr naming the file and the problem, a
non-zero exit, and data/ and models/ byte-identical), or, when the file is sound and only some
rows are bad, landed in part: the good rows in data/raw, every bad row in data/quarantine with
its reason, and its formula-looking cells quoted; or, for the files that only look bad
(zone-less times, a label of one class), landed whole. EXPECTED says which, for each file.

The repository is built once per module, with one good batch (week 1) landed through the real
command so that the duplicate and overlap cases have something to clash with; each case runs on
a copy. Most cases call ``cli.main`` in-process (the console script's code path) with
the `dvc add` subprocess replaced by a recorder; the cases in SUBPROCESS run as real processes
of the installed console script, real `dvc add` included.
"""

from __future__ import annotations

import gzip
import importlib.util
import os
import shutil
import subprocess
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
from helpers import DVC_FILE, LABEL, PARAMS_FILE, TIME, sha256, tree_digest

from iterate.commands import cli
from iterate.repo import landing, registry, store, vcs

CORPUS = Path(__file__).resolve().parent / "bad_batches"
BASE = CORPUS / "base" / "landed_first.csv"
WEEK1 = "2013-01-01_2013-01-07"  # the batch landed first
WEEK2 = "2013-01-08_2013-01-14"  # what a partly landed corpus file becomes
TREES = ("data", "models")
SHELL_NAME = "week 1; rm -rf x $(touch pwned).csv"
CONSOLE_SCRIPT = Path(sys.executable).with_name("iterate")  # what `pip install -e .` made
LAND = [str(CONSOLE_SCRIPT)] if CONSOLE_SCRIPT.is_file() else [sys.executable, "-m",
                                                                "iterate.commands.cli"]


@dataclass(frozen=True)
class Refused:
    """Refused whole: exit non-zero, one ``error: <path>: ...`` line containing ``problem``."""

    problem: str


@dataclass(frozen=True)
class Partial:
    """Landed in part: ``quarantined`` maps each bad row (1-based, as ``source_row``) to the
    start of its reason; every other row lands."""

    quarantined: dict[int, str]


@dataclass(frozen=True)
class Landed:
    """Not bad after all: every row lands, with ``warning`` (or nothing) on stderr."""

    warning: str = ""


UTC_TIME = "time_hour: not an ISO 8601 date or timestamp"

EXPECTED: dict[str, Refused | Partial | Landed] = {
    # the columns are wrong
    "missing_column.csv": Refused("missing column(s) 'distance'"),
    "extra_column.csv": Refused("column(s) 'tailnum' are not in the contract"),
    "renamed_column.csv": Refused("missing column(s) 'dest'"),
    "duplicate_column.csv": Refused("column 'distance' appears more than once"),
    # a whole column of the wrong type: every row is bad, more than max_bad_share
    "words_in_numeric_column.csv": Refused("distance: not a number 'far'"),
    # zone-less times are read in contract.timezone (UTC): the batch lands
    "naive_timestamps.csv": Landed(),
    # a label that is all one class lands (a later holdout skips it), with a warning
    "one_class_label.csv": Landed(f"warning: batch {WEEK2} (one_class_label.csv): the label "
                                  "'late' holds one class only (0); it lands and later models "
                                  "train on it, but it is skipped as a holdout\n"),
    # a few bad rows in a sound file
    "numbers_with_units.csv": Partial({4: "distance: not a number '1623 mi'",
                                       10: "temp: not a number '42.08 F'",
                                       16: "precip: not a number '0in'"}),
    "thousands_separators.csv": Partial({5: "distance: not a number '1,024'",
                                         13: "pressure: not a number '1,012.5'"}),
    "out_of_range.csv": Partial({3: "sched_dep_time: above the maximum 2359",
                                 6: "humid: above the maximum 100",
                                 9: "distance: below the minimum 0",
                                 12: "wind_dir: above the maximum 360",
                                 15: "pressure: below the minimum 850"}),
    "missing_label.csv": Partial({2: "late: missing label",
                                  7: "late: not one of the classes",  # the text "NaN"
                                  11: "late: missing label"}),  # a blank
    "label_outside_classes.csv": Partial({1: "late: not one of the classes [0, 1]",
                                          6: "late: not one of the classes [0, 1]",
                                          10: "late: not one of the classes [0, 1]",
                                          14: "late: not one of the classes [0, 1]"}),
    "unparseable_timestamps.csv": Partial({4: UTC_TIME, 8: UTC_TIME, 13: UTC_TIME}),
    "formula_injection.csv": Partial({3: "distance: not a number '=1+2'",
                                      7: "late: not one of the classes"}),
    "huge_field.csv.gz": Partial({5: "dest:"}),
    # clashes with the landed batch
    "duplicate_of_landed.csv": Refused(f"already landed as batch {WEEK1}"),
    "overlaps_landed.csv": Refused(f"overlaps landed batch {WEEK1}"),
    # not a readable CSV file
    "empty.csv": Refused("the file is empty"),
    "header_only.csv": Refused("no data rows"),
    "not_utf8_latin1.csv": Refused("not UTF-8 text"),
    "truncated.csv.gz": Refused("cannot be read as CSV (Compressed file ended"),
    "ragged_row.csv": Refused("cannot be read as CSV (Error tokenizing data"),
    # the path is the problem, not the content: they land like any file (one bad row each)
    "dotdot_path.csv": Partial({8: "late: not one of the classes"}),
    # run as real processes (SUBPROCESS), last, so the in-process cases run meanwhile
    SHELL_NAME: Partial({8: "late: not one of the classes"}),
    "year_typo_timestamp.csv": Partial({10: "time_hour:"}),
    "png_image.csv": Refused("not UTF-8 text"),  # not CSV at all: a PNG image's bytes
}

# Run as real processes of the console script, started together by the module fixture.
SUBPROCESS = (SHELL_NAME, "year_typo_timestamp.csv", "png_image.csv")

def case_params() -> list:
    return [pytest.param(name, id=name.replace(" ", "_")) for name in EXPECTED]


# ================================================================ the repository


def _env() -> dict[str, str]:
    return {**os.environ, "DVC_NO_ANALYTICS": "1"}


def _copy_repo(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    (target / "x").write_text("rm -rf x must not remove me\n")  # see the shell-name case
    return target


def _place(name: str, repo: Path) -> str:
    """Copy corpus file ``name`` where the case lands it from; return the path to give."""
    if name == "dotdot_path.csv":
        outside = repo.parent / "outside"
        outside.mkdir()
        shutil.copy(CORPUS / name, outside / name)
        return f"../outside/{name}"
    (repo / "inbox").mkdir(exist_ok=True)
    shutil.copy(CORPUS / name, repo / "inbox" / name)
    return f"inbox/{name}"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A git + DVC repository where week 1 (base/landed_first.csv) landed through `iterate
    land`, a model registry that landing must not touch, and the SUBPROCESS cases started at
    once in copies of it."""
    root = tmp_path_factory.mktemp("base") / "repo"
    root.mkdir()
    shutil.copy(PARAMS_FILE, root)
    shutil.copy(DVC_FILE, root)
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=root, env=_env(),
                   check=True)
    (root / "models").mkdir()
    (root / "models" / "registry.yaml").write_text(registry.dump([], "flight-delay"))
    (root / "inbox").mkdir()
    shutil.copy(BASE, root / "inbox" / "week1.csv")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        assert cli.main(["land", "inbox/week1.csv"]) == 0
    assert [b.id for b in store.list_batches(root / "data" / "raw")] == [WEEK1]

    processes = {}
    for name in SUBPROCESS:
        repo = _copy_repo(root, tmp_path_factory.mktemp("process") / "repo")
        path = _place(name, repo)
        processes[name] = Started(repo, path, tree_digest(repo, *TREES), subprocess.Popen(
            [*LAND, "land", path], cwd=repo, env=_env(), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True))
    yield SimpleNamespace(root=root, processes=processes)
    for started in processes.values():
        started.result()  # reap


class Started:
    """`iterate land` running as a process; ``result()`` waits for it (once)."""

    def __init__(self, repo: Path, path: str, before: dict[str, str],
                 process: subprocess.Popen):
        self.repo, self.path, self.before, self.process = repo, path, before, process
        self._result = None

    def result(self) -> SimpleNamespace:
        if self._result is None:
            out, err = self.process.communicate(timeout=120)
            self._result = SimpleNamespace(code=self.process.returncode, out=out, err=err,
                                           repo=self.repo, path=self.path, before=self.before,
                                           dvc_calls=None)
        return self._result


def _land_in_process(name: str, base, tmp_path, monkeypatch, capsys) -> SimpleNamespace:
    repo = _copy_repo(base.root, tmp_path / "repo")
    monkeypatch.chdir(repo)
    path = _place(name, repo)
    before = tree_digest(repo, *TREES)
    calls = []
    monkeypatch.setattr(vcs, "dvc", lambda *args, **kwargs: calls.append(args) or "")
    capsys.readouterr()
    code = cli.main(["land", path])
    out, err = capsys.readouterr()
    return SimpleNamespace(code=code, out=out, err=err, repo=repo, path=path, before=before,
                           dvc_calls=calls)


# ================================================================ each corpus file


@pytest.mark.parametrize("name", case_params())
def test_bad_batch_is_refused_whole_or_lands_with_each_bad_row_quarantined(
        name, base, tmp_path, monkeypatch, capsys):
    if name in SUBPROCESS:
        result = base.processes[name].result()
    else:
        result = _land_in_process(name, base, tmp_path, monkeypatch, capsys)
    expected = EXPECTED[name]
    source = result.repo / result.path

    if isinstance(expected, Refused):
        _assert_refused(result, expected)
    elif isinstance(expected, Landed):
        _assert_landed(result, expected, source)
    else:
        _assert_partly_landed(result, expected, source)
    assert sha256(source) == sha256(CORPUS / name), "the input file must only be read"
    assert (result.repo / "x").is_file(), "a command ran: `rm -rf x`"
    assert not (result.repo / "pwned").exists(), "a command ran: `touch pwned`"
    assert not (result.repo.parent / "pwned").exists(), "a command ran: `touch pwned`"


def _assert_refused(result, expected: Refused) -> None:
    assert result.code != 0
    assert result.out == ""
    assert result.err.endswith("\n") and result.err.count("\n") == 1, result.err[:2000]
    assert result.err.startswith(f"error: {result.path}: "), result.err[:2000]
    assert expected.problem in result.err, result.err[:2000]
    assert len(result.err) < 1000, "one line saying what, where and how, not a data dump"
    assert tree_digest(result.repo, *TREES) == result.before
    assert result.dvc_calls in (None, [])


def _assert_landed(result, expected: Landed, source: Path) -> None:
    assert (result.code, result.err) == (0, expected.warning), result.err[-3000:]
    rows = len(_read_text_csv(source))
    assert result.out.startswith(f"landed {WEEK2}: {rows} rows (2013-01-08T")
    assert result.out.endswith(f"-> data/raw/{WEEK2}.parquet\n")
    assert len(pd.read_parquet(result.repo / f"data/raw/{WEEK2}.parquet")) == rows


def _assert_partly_landed(result, expected: Partial, source: Path) -> None:
    assert (result.code, result.err) == (0, ""), result.err[-3000:]
    written = _read_text_csv(source)
    bad_rows = sorted(expected.quarantined)
    good = len(written) - len(bad_rows)
    assert result.out.startswith(f"landed {WEEK2}: {good} rows (2013-01-08T")
    assert result.out.endswith(f", {len(bad_rows)} bad rows -> data/quarantine/{WEEK2}.csv\n")
    if result.dvc_calls is not None:
        assert result.dvc_calls == [("add", "--quiet", "models/baseline", "models/challenger",
                                     "data/raw")]

    after = tree_digest(result.repo, *TREES)
    changed = {p for p in after if after[p] != result.before.get(p)}
    assert {p for p in result.before if p not in after} == set(), "nothing landed is removed"
    allowed = {f"data/raw/{WEEK2}.parquet", f"data/quarantine/{WEEK2}.csv", "data/raw.dvc",
               "data/.gitignore"}
    assert {f"data/raw/{WEEK2}.parquet", f"data/quarantine/{WEEK2}.csv"} <= changed <= allowed
    assert {p: h for p, h in after.items() if p.startswith("models/")} == {
        p: h for p, h in result.before.items() if p.startswith("models/")}

    landed = pd.read_parquet(result.repo / f"data/raw/{WEEK2}.parquet")
    assert len(landed) == good
    [info] = [b for b in store.list_batches(result.repo / "data/raw") if b.id == WEEK2]
    assert (info.rows, info.quarantined, info.source) == (good, len(bad_rows), source.name)
    assert info.sha256 == sha256(source)

    quarantined = result.repo / f"data/quarantine/{WEEK2}.csv"
    assert quarantined.stat().st_size < 20 * landing.CELL_CHARS * len(bad_rows), "bounded"
    quarantine = _read_text_csv(quarantined)
    assert quarantine["source_row"].astype(int).tolist() == bad_rows
    for reason, start in zip(quarantine["reason"], [expected.quarantined[r] for r in bad_rows],
                             strict=True):
        assert reason.startswith(start), (reason, start)
    _assert_no_live_formula(quarantine)
    as_written = written.iloc[[r - 1 for r in bad_rows]].reset_index(drop=True).map(
        landing.cut_cell)  # a cell over landing.CELL_CHARS is cut, with a marker
    as_quarantined = quarantine[list(written.columns)].map(_unquote)
    pd.testing.assert_frame_equal(as_quarantined, as_written, check_dtype=False)


def _read_text_csv(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _assert_no_live_formula(quarantine: pd.DataFrame) -> None:
    for column in quarantine.columns:
        for cell in quarantine[column]:
            assert not (cell.startswith(FORMULA) and not _is_number(cell)), (column, cell)


def _unquote(cell: str) -> str:
    return cell[1:] if cell.startswith("'") and cell[1:].startswith(FORMULA) else cell


# ================================================================ details of some cases


def test_formula_cells_are_quoted_in_the_quarantine_and_kept_as_text_in_landed_rows(
        base, tmp_path, monkeypatch, capsys):
    result = _land_in_process("formula_injection.csv", base, tmp_path, monkeypatch, capsys)

    assert result.code == 0, result.err
    text = (result.repo / f"data/quarantine/{WEEK2}.csv").read_text(encoding="utf-8")
    row3, row7 = text.splitlines()[1:]
    assert row3.startswith("3,") and row7.startswith("7,")
    assert ",'@SUM(A1)," in row3 and ",'=1+2," in row3 and "'+cmd|' /C calc'!A0" in row3
    assert ",'-2+3," in row7 and "'=HYPERLINK(" in row7
    landed = pd.read_parquet(result.repo / f"data/raw/{WEEK2}.parquet")
    assert "=B1" in landed["carrier"].tolist()  # a good row: Parquet, not a spreadsheet


def test_file_landed_through_a_dotdot_path_writes_only_inside_the_repository(
        base, tmp_path, monkeypatch, capsys):
    result = _land_in_process("dotdot_path.csv", base, tmp_path, monkeypatch, capsys)

    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["dotdot_path.csv"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outside", "repo"]
    [info] = [b for b in store.list_batches(result.repo / "data/raw") if b.id == WEEK2]
    assert info.source == "dotdot_path.csv"  # the name only, not the path


def test_shell_characters_in_the_name_reach_iterate_as_one_path_and_run_nothing(base):
    result = base.processes[SHELL_NAME].result()

    assert result.code == 0, result.err
    assert (result.repo / "inbox" / SHELL_NAME).is_file()
    [info] = [b for b in store.list_batches(result.repo / "data/raw") if b.id == WEEK2]
    assert info.source == SHELL_NAME
    assert (result.repo / "x").read_text() == "rm -rf x must not remove me\n"
    assert not list(result.repo.parent.rglob("pwned"))
    tracked = (result.repo / "data" / "raw.dvc").read_text(encoding="utf-8")
    assert "nfiles: 2" in tracked  # the real `dvc add` ran and saw both batches


def test_not_utf8_error_points_at_the_offending_byte_of_the_file(
        base, tmp_path, monkeypatch, capsys):
    data = (CORPUS / "not_utf8_latin1.csv").read_bytes()
    offset, line = data.index(b"\xe9"), data[: data.index(b"\xe9")].count(b"\n") + 1

    result = _land_in_process("not_utf8_latin1.csv", base, tmp_path, monkeypatch, capsys)

    assert result.code != 0
    assert f"byte {offset}" in result.err or f"line {line}" in result.err, result.err


# ================================================================ the corpus itself


def test_corpus_holds_exactly_the_expected_files_each_small():
    files = {p.name for p in CORPUS.iterdir() if p.is_file() and p.name != "make.py"}

    assert files == set(EXPECTED)
    assert len(files) >= 20
    assert all((CORPUS / name).stat().st_size < 20_000 for name in files)


def test_corpus_is_what_make_py_writes_from_the_source(tmp_path):
    spec = importlib.util.spec_from_file_location("make_bad_batches", CORPUS / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)

    make.main(tmp_path)

    names = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert names == sorted([*EXPECTED, "base/landed_first.csv"])
    for name in names:
        made, committed = (tmp_path / name).read_bytes(), (CORPUS / name).read_bytes()
        if name.endswith(".gz"):  # compare what is inside (gzip bytes depend on zlib)
            made, committed = (zlib.decompressobj(31).decompress(b) for b in (made, committed))
        assert made == committed, name
    huge = gzip.decompress((CORPUS / "huge_field.csv.gz").read_bytes())
    assert max(len(cell) for line in huge.split(b"\n") for cell in line.split(b",")) == \
        10 * 1024 * 1024
    assert pd.read_csv(BASE, dtype=str)[LABEL].nunique() == 2
    assert pd.read_csv(BASE, dtype=str)[TIME].str.endswith("Z").all()
