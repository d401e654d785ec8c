"""The command line's contract: --help on every subcommand, one-line usage errors with exit 2, progress bars only when asked."""

from __future__ import annotations

import pytest

from interaction_lake import progress
from interaction_lake.cli import build_parser, main

pytestmark = pytest.mark.unit
COMMANDS = ("generate", "land", "build-silver", "build-marts", "validate", "summary", "demo", "report", "bench", "erase", "audit")


def test_the_issue_s_subcommands_are_all_there():
    choices = build_parser()._subparsers._group_actions[0].choices
    assert set(COMMANDS) <= set(choices)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_has_help(command, capsys):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    assert f"usage: interaction-lake {command}" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["generate", "--start", "2026-02-30"], "interaction-lake generate: error: argument --start: not a date (YYYY-MM-DD): '2026-02-30'"),
    (["land", "--source", "fax"], "interaction-lake land: error: argument --source: invalid choice: 'fax'"),
    (["frobnicate"], "interaction-lake: error: argument command: invalid choice: 'frobnicate'"),
])
def test_usage_mistakes_are_one_line_and_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        main(argv)
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith(message), err


def test_a_missing_lake_is_a_one_line_error_not_a_traceback(tmp_path, capsys):
    assert main(["report", "--lake", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err == f"interaction-lake: error: lake directory {tmp_path / 'nowhere'} does not exist (build the marts first, or pass --lake)\n"


def test_progress_bars_draw_only_when_enabled_and_never_lose_items(monkeypatch, capsys):
    monkeypatch.setenv("INTERACTION_LAKE_PROGRESS", "0")
    assert list(progress.steps("landing", ["a", "b"])) == ["a", "b"]
    assert capsys.readouterr().err == ""
    monkeypatch.setenv("INTERACTION_LAKE_PROGRESS", "1")
    assert list(progress.steps("landing", ["counter", "survey"])) == ["counter", "survey"]
    with progress.working("building"):
        pass
    assert "landing: survey" in capsys.readouterr().err
