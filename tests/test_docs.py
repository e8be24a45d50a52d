"""The documentation is true to the repository: every link, command and path it quotes exists.

README.md and docs/*.md are read as markdown. Relative links must name an existing file (and a
heading, for ``#anchor``); ``make TARGET`` must be a Makefile target; ``iterate ...`` and
``dvc ...`` must parse with the real parsers (subcommands and flags; nothing is run);
``python -m MODULE`` must be importable; quoted paths under src/, bench/, tests/, docs/, .github/
and .ci/ must exist. Commands are taken from inline code and from fenced code blocks.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import io
import re
import shlex
import typing
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_LIMIT = 12 * 1024  # bytes
CHECKED_DIRS = ("src/", "bench/", "tests/", "docs/", ".github/", ".ci/")

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```([^\n]*)\n(.*?)^```", re.S | re.M)
SHELL = {"bash", "sh", "shell", "console"}  # fences whose lines are commands
VALUES = {"N": "1"}  # placeholders that stand for a typed value
SPAN = re.compile(r"(`+)(.+?)\1")
PATH = re.compile(r"(?<![\w./-])((?:src|bench|tests|docs|\.github|\.ci)/[\w./*-]*[\w*])")
PLACEHOLDER = re.compile(r"[<>]|\.\.\.")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """The anchors of the headings of markdown ``text``."""
    return {slug(m) for m in re.findall(r"^#+\s+(.+?)\s*#*$", FENCE.sub("", text), re.M)}


def snippets(text: str) -> tuple[list[str], list[str]]:
    """(command lines, inline code spans) quoted in markdown ``text``."""
    lines = []
    for language, block in FENCE.findall(text):
        if language.strip() not in SHELL:
            continue
        for line in block.splitlines():
            line = re.sub(r"\s#\s.*$", "", line).strip()  # a trailing comment
            lines += [part.strip() for part in re.split(r"&&|\|\||;|\|", line) if part.strip()]
    prose = FENCE.sub("", text)
    spans = [m.group(2).strip() for m in SPAN.finditer(prose)]
    for span in spans:
        lines += [part.strip() for part in re.split(r"&&|;", span) if part.strip()]
    return lines, spans


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Za-z][\w-]*):(?!=)", text, re.M))


def parses(parser, words: list[str]) -> str | None:
    """None when argparse accepts ``words``, else its complaint."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(words)
    except SystemExit as exc:  # argparse exits: 0 after --help, 2 on an error
        if exc.code == 0:
            return None
        return err.getvalue().strip().splitlines()[-1] if err.getvalue().strip() else repr(exc)
    except Exception as exc:  # dvc's parser raises DvcParserError (its message goes to a log)
        return repr(exc)
    return None


def cli_problem(parser, words: list[str]) -> str | None:
    """Whether a CLI accepts ``words``; a bare command name (``iterate land`` in prose, without
    its required arguments) only has to exist."""
    complaint = parses(parser, [VALUES.get(w, w) for w in words])
    if complaint and all(re.fullmatch(r"[a-z][a-z-]*", w) for w in words):
        complaint = parses(parser, [*words, "-h"])
    return complaint


@dataclasses.dataclass
class Parsers:
    iterate: typing.Any
    dvc: typing.Any
    targets: set[str]


@pytest.fixture(scope="module")
def parsers() -> Parsers:
    from dvc.cli.parser import get_main_parser

    from iterate.commands.cli import build_parser

    return Parsers(build_parser(), get_main_parser(), makefile_targets())


def command_problem(line: str, p: Parsers) -> str | None:
    """What is wrong with one quoted command line, or None (also for lines not checked)."""
    try:
        words = shlex.split(line.replace("[", " ").replace("]", " "))
    except ValueError:
        return None
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):  # VAR=value prefixes
        words = words[1:]
    if not words:
        return None
    name, rest = Path(words[0]).name, words[1:]
    if name == "make":
        missing = [w for w in rest if not w.startswith("-") and "=" not in w
                   and w not in p.targets]
        return f"no Makefile target {missing[0]!r}" if missing else None
    if name in ("iterate", "dvc") and rest:
        complaint = cli_problem(p.iterate if name == "iterate" else p.dvc, rest)
        return f"`{name}` does not parse it: {complaint}" if complaint else None
    if name.startswith("python") and rest[:1] == ["-m"] and len(rest) > 1:
        return None if module_exists(rest[1]) else f"no module {rest[1]!r}"
    return None


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def path_problems(spans_and_lines: list[str]) -> list[str]:
    problems = []
    for text in spans_and_lines:
        for path in PATH.findall(text):
            if PLACEHOLDER.search(path) or path.endswith("/"):
                continue
            if not any(ROOT.glob(path)):
                problems.append(f"no file {path}")
    return problems


def link_problems(text: str, page: Path) -> list[str]:
    problems = []
    for target in LINK.findall(FENCE.sub("", text)):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve()
        if file and not dest.exists():
            problems.append(f"link to a missing file: {target}")
        elif anchor and (not file or dest.suffix == ".md"):
            headings = anchors(dest.read_text(encoding="utf-8") if file else text)
            if anchor not in headings:
                problems.append(f"link to a missing heading: {target}")
    return problems


def problems(text: str, page: Path, p: Parsers) -> list[str]:
    """Every untrue link, command or path in markdown ``text`` (as if it were ``page``)."""
    lines, spans = snippets(text)
    found = link_problems(text, page)
    found += [f"{line!r}: {why}" for line in lines if (why := command_problem(line, p))]
    found += path_problems(lines + spans)
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_command_and_path_a_page_quotes_exists(page, parsers):
    assert problems(page.read_text(encoding="utf-8"), page, parsers) == []


def test_the_check_reports_each_kind_of_untrue_snippet(parsers):
    bad = """# Page
See [nowhere](docs/nowhere.md), [a heading](README.md#no-such-heading) and [ok](#page).

```bash
make no-such-target
iterate frobnicate
iterate rollback 1.0.2  # --reason missing
dvc frobnicate
python -m iterate.no_such_module
```

Run `iterate history --no-such-flag`, `dvc exp run --no-such-flag` and open
`src/iterate/core/no_such.py`.
"""
    found = "\n".join(problems(bad, ROOT / "page.md", parsers))
    for expected in ("docs/nowhere.md", "README.md#no-such-heading", "'no-such-target'",
                     "'iterate frobnicate'", "'iterate rollback 1.0.2'", "'dvc frobnicate'",
                     "iterate.no_such_module", "'iterate history --no-such-flag'",
                     "'dvc exp run --no-such-flag'", "src/iterate/core/no_such.py"):
        assert expected in found
    assert "#page" not in found
    good = ("`make run`, `iterate --params mine.yaml backtest`, `iterate land`, `dvc exp`, "
            "`iterate loop --iterations N`, `dvc repro`, `src/iterate/params.py`")
    assert problems(good, ROOT / "page.md", parsers) == []


def test_the_readme_is_at_most_12_kb():
    size = len(README.read_bytes())
    assert size <= README_LIMIT, f"README.md is {size} bytes; move detail into docs/"


def test_the_readme_links_every_docs_page():
    linked = {(README.parent / t.partition("#")[0]).resolve()
              for t in LINK.findall(README.read_text(encoding="utf-8"))}
    assert {p.resolve() for p in PAGES[1:]} <= linked


def test_the_readme_quickstart_is_exactly_make_run_and_make_test():
    text = README.read_text(encoding="utf-8")
    section = text.split("## Quickstart", 1)[1]
    assert FENCE.search(section).group(2).split() == ["make", "run", "make", "test"]


def test_files_outside_docs_cite_only_existing_pages():
    cited = []
    for name in ("Makefile", "pyproject.toml", "dvc.yaml", "params.yaml",
                 ".github/workflows/pr.yml", ".ci/run"):
        cited += re.findall(r"docs/[\w.-]+\.md", (ROOT / name).read_text(encoding="utf-8"))
    for path in (ROOT / "src").rglob("*.py"):
        cited += re.findall(r"docs/[\w.-]+\.md", path.read_text(encoding="utf-8"))
    assert [c for c in cited if not (ROOT / c).is_file()] == []


def params_keys() -> list[str]:
    """Every key params.py accepts, dotted; mappings of user names as NAME / METRIC."""
    from iterate import params

    placeholders = {"columns": "NAME", "rules": "METRIC"}

    def walk(tp, prefix: str) -> list[str]:
        keys = []
        hints = typing.get_type_hints(tp)
        for f in dataclasses.fields(tp):
            key = f"{prefix}{f.name}"
            inner = [a for a in typing.get_args(hints[f.name]) if dataclasses.is_dataclass(a)]
            if dataclasses.is_dataclass(hints[f.name]):  # a section: its keys stand for it
                keys += walk(hints[f.name], key + ".")
                continue
            keys.append(key)
            if inner:  # a mapping of user names (columns, rules) or an optional section
                name = placeholders.get(f.name)
                keys += walk(inner[-1], f"{key}.{name}." if name else f"{key}.")
        return keys

    return [k for k in walk(params.Params, "") if "." in k]


def test_the_params_reference_documents_every_key_the_loader_accepts():
    text = (ROOT / "docs" / "params.md").read_text(encoding="utf-8")
    assert [k for k in params_keys() if f"`{k}`" not in text] == []


def test_the_readme_lists_every_iterate_command(parsers):
    (sub,) = [a for a in parsers.iterate._actions if isinstance(a, argparse._SubParsersAction)]
    text = README.read_text(encoding="utf-8")
    assert [name for name in sub.choices if f"`iterate {name}" not in text] == []
