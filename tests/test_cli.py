"""The command line itself: --params on either side of the command, --version, help text a
terminal prints cleanly for `iterate` and every command, and a closed pipe that ends quietly."""

from __future__ import annotations

import re
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from iterate.commands import cli

MARKUP = re.compile(r"``|:[a-z]+:`")  # reStructuredText a docstring would leak


def commands() -> dict:
    """name -> sub-parser, for every `iterate` command."""
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "==SUPPRESS==" and a.choices)
    return dict(sub.choices)


@pytest.mark.parametrize("words", [["--params", "mine.yaml", "history"],
                                   ["history", "--params", "mine.yaml"],
                                   ["backtest", "--params", "mine.yaml"],
                                   ["land", "a.csv", "--params", "mine.yaml"]])
def test_params_is_taken_before_or_after_the_command(words):
    assert cli.build_parser().parse_args(words).params == Path("mine.yaml")


def test_without_params_every_command_reads_params_yaml():
    for name in ("history", "backtest", "loop", "gate"):
        assert cli.build_parser().parse_args([name]).params == Path("params.yaml")


def test_every_command_takes_params_after_it():
    for name, parser in commands().items():
        assert "--params FILE" in parser.format_help(), name


def test_params_after_the_command_is_the_file_that_is_read(tmp_path, monkeypatch, capsys):
    (tmp_path / "mine.yaml").write_text("no_such_section: 1\n")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["history", "--params", "mine.yaml"]) == 2
    assert "mine.yaml" in capsys.readouterr().err


def test_version_is_the_installed_package_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.build_parser().parse_args(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out.strip() == f"iterate {metadata.version('iterate')}"


def test_the_help_lists_every_command_without_docstring_markup():
    text = cli.build_parser().format_help()
    assert not MARKUP.search(text), text
    listed = set(re.findall(r"^    ([a-z]+) ", text, re.M))
    assert listed == set(commands())


@pytest.mark.parametrize("name", sorted(commands()))
def test_each_command_has_a_clean_help_with_a_description(name):
    parser = commands()[name]
    text = parser.format_help()
    assert not MARKUP.search(text), text
    assert parser.description, name
    assert text.startswith(f"usage: iterate {name}")


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly(template_repo):
    """`iterate history | head -1`: no BrokenPipeError traceback, nothing on stderr."""
    proc = subprocess.Popen([sys.executable, "-m", "iterate.commands.cli", "history"],
                            cwd=template_repo.path, env=template_repo.env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the command writes its first line
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == cli.BROKEN_PIPE
    assert stderr == ""


def test_registry_tag_outside_git_does_nothing_and_only_an_explicit_tag_is_refused(
        tmp_path, monkeypatch):
    from helpers import shipped_params

    from iterate.commands import deploy
    from iterate.errors import IterateError

    monkeypatch.chdir(tmp_path)  # no git repository here
    p = shipped_params()
    assert p.registry.tag, "the template tags by default"
    entry = {"version": "1.0.0", "action": "promote"}
    assert deploy._commit_and_tag(p, entry, asked=False, message="promote") is None
    with pytest.raises(IterateError, match="--tag needs a git repository"):
        deploy._commit_and_tag(p, entry, asked=True, message="promote")
