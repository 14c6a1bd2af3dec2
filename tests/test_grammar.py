"""The magic's one grammar: the cell's options, the one-line question, the commands."""

from __future__ import annotations

import pytest

from orjupyter.core.errors import OptionError
from orjupyter.jupyter.commands import COMMANDS, help_text, parse_command
from orjupyter.jupyter.grammar import OPTIONS, cell_parser, parse_options, split_question


@pytest.mark.parametrize(
    ("line", "options", "question"),
    [
        ("What is x?", "", "What is x?"),
        ('--system "Be terse." What is x?', '--system "Be terse."', "What is x?"),
        ("--system 'Be terse.' What's {x}?", "--system 'Be terse.'", "What's {x}?"),
        (
            "-m openai/gpt-4o-mini What is {x} squared?",
            "-m openai/gpt-4o-mini",
            "What is {x} squared?",
        ),
        ("--no-cache --max-tokens 5 hi  there", "--no-cache --max-tokens 5", "hi  there"),
        ("--model=x --bg why?", "--model=x --bg", "why?"),
        ("-f json -- -5 squared?", "-f json", "-5 squared?"),
    ],
)
def test_the_line_splits_like_the_cell(line, options, question):
    assert split_question(line) == (options, question)
    parse_options(options)  # what the splitter kept as options, the cell's parser accepts


def test_the_question_keeps_its_own_quotes_and_braces():
    _options, question = split_question('--system "x" Is "{a}" {{b}}?')
    assert question == 'Is "{a}" {{b}}?'


@pytest.mark.parametrize("line", ["--system 'unclosed What?", "-m", "--no-cache", ""])
def test_a_line_without_a_readable_question_is_one_clear_error(line):
    with pytest.raises(OptionError) as caught:
        split_question(line)
    assert "\n" not in str(caught.value)


def test_quoted_option_values_lose_their_quotes():
    assert parse_options('--system "Be terse." -m x').system == "Be terse."


def test_a_bad_option_names_itself_and_points_to_help():
    with pytest.raises(OptionError, match=r"--temperature.*see %gpt4o help"):
        parse_options("--temperature 9")
    with pytest.raises(OptionError, match="unrecognized arguments: what"):
        parse_options("-m x what")


def test_every_option_of_the_table_is_in_the_parser_and_the_help():
    text = help_text("About.")
    parser_flags = {flag for action in cell_parser()._actions for flag in action.option_strings}
    for option in OPTIONS:
        assert set(option.flags) <= parser_flags
        assert option.flags[-1] in text


def test_every_command_parses_and_is_listed_once_in_the_help():
    text = help_text("About.")
    for command in COMMANDS:
        assert text.count(f"%gpt4o {command.name} ") == 1
    assert parse_command("budget 0.5").amount == "0.5"
    assert parse_command("usage --csv 'my calls.csv'").csv == "my calls.csv"
    assert parse_command("alias mini openai/gpt-4o-mini").slug == "openai/gpt-4o-mini"
    assert parse_command("").command == "help"
    with pytest.raises(OptionError, match="see %gpt4o help"):
        parse_command("alias onlyname")
