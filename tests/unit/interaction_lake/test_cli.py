"""The command line's contract: --help on every subcommand, one-line usage errors with exit 2, progress bars only when asked."""

from __future__ import annotations

import argparse

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
    assert "landing: survey" in capsys.readouterr().err
    with progress.working("building the marts"):
        pass
    drawn = capsys.readouterr().err
    assert "building the marts" in drawn and "0/?" not in drawn  # a step of unknown size shows no count it cannot know


def _options():
    for name, command in build_parser()._subparsers._group_actions[0].choices.items():
        for action in command._actions:
            if action.option_strings and action.dest != "help":
                yield name, action


def test_every_option_says_what_it_does_and_its_default():
    unexplained = [f"{name} {action.option_strings[0]}" for name, action in _options() if not action.help]
    silent_defaults = [f"{name} {action.option_strings[0]}" for name, action in _options()
                       if action.default not in (None, False, argparse.SUPPRESS) and "default" not in (action.help or "")]
    assert unexplained == [] and silent_defaults == []


def test_demo_refuses_sample_options_it_could_not_apply(tmp_path, capsys):
    """Once the landing zone holds files no sample is generated: --customers must not be dropped without a word."""
    (tmp_path / "landing" / "counter").mkdir(parents=True)
    (tmp_path / "landing" / "counter" / "visits.jsonl").write_text("{}\n")
    assert main(["demo", "--landing", str(tmp_path / "landing"), "--lake", str(tmp_path / "lake"), "--customers", "5", "--seed", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--customers, --seed would change nothing" in err, err
    assert not (tmp_path / "lake").exists()
