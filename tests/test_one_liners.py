"""`%gpt4o LINE`: a command only when the whole line parses as that command; otherwise a
question, sent exactly as typed, even when its first word is a command's name."""

from __future__ import annotations

import pytest

from orjupyter.jupyter.commands import COMMANDS

QUESTIONS = (
    "{name} of the 1990s: which were best?",
    "{name} the counter for me, how?",
    "{name} for a small team, in one line",
    "{name} don't matter, do they?",  # an apostrophe: no closing quote
)


def chat_bodies(router) -> list[dict]:
    return [r.body for r in router.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize("name", [command.name for command in COMMANDS])
def test_a_question_starting_with_a_commands_name_is_asked(shell, router, name):
    for template in QUESTIONS:
        question = template.format(name=name)
        assert shell.run_cell(f"%gpt4o {question}").success, question
        body = chat_bodies(router)[-1]
        assert body["messages"][-1]["content"] == question


def test_two_dashes_make_plain_words_a_question(shell, router, capsys):
    assert shell.run_cell("%gpt4o models for teams").success  # the command's filter
    assert "matching 'for teams'" in capsys.readouterr().out
    assert chat_bodies(router) == []
    assert shell.run_cell("%gpt4o -- models for teams").success
    assert chat_bodies(router)[-1]["messages"][-1]["content"] == "models for teams"


def test_an_alias_asks_such_questions_too(shell, router):
    assert shell.run_cell("%gpt4o alias mini openai/gpt-4o-mini").success
    assert shell.run_cell("%mini models of the 90s: which were best?").success
    body = chat_bodies(router)[-1]
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["messages"][-1]["content"] == "models of the 90s: which were best?"
    assert shell.run_cell("%mini reset").success  # and runs commands
    assert len(chat_bodies(router)) == 1


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("", "Ask an OpenRouter model"),
        ("help", "Ask an OpenRouter model"),
        ("usage", "calls"),
        ("usage --all", "calls"),
        ("budget", "No budget"),
        ("budget 0.50", ": $0.50; spent $0"),
        ("budget $2", ": $2"),
        ("budget off", "No budget"),
        ("reset", "All threads reset."),
        ("reset draft-2", "Thread 'draft-2' reset."),
        ("alias mini openai/gpt-4o-mini", "%%mini now asks openai/gpt-4o-mini."),
        ("models", "OpenRouter models"),
        ("models gpt-4o mini", "matching 'gpt-4o mini'"),
        ("models OpenAI: GPT-4o", "matching 'OpenAI: GPT-4o'"),
        ("panel", "calls"),
        ("reconcile", ""),
    ],
)
def test_commands_alone_and_with_their_arguments_still_run(shell, router, capsys, line, said):
    assert shell.run_cell(f"%gpt4o {line}").success
    assert said in capsys.readouterr().out
    assert chat_bodies(router) == []


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("usage --csv", "expected one argument"),
        ("panel --wide", "unrecognized arguments"),
        ("budget lots", "'lots' is not an amount of dollars"),
        ("budget 0.5o", "'0.5o' is not an amount of dollars"),
    ],
)
def test_a_command_typed_wrong_says_so(shell, router, capsys, line, error):
    """A command's name and only flags, or one word without `?`: not a question."""
    assert not shell.run_cell(f"%gpt4o {line}").success
    assert error in capsys.readouterr().err
    assert chat_bodies(router) == []


def test_a_two_word_question_ends_with_a_question_mark(shell, router):
    assert shell.run_cell("%gpt4o budget tips?").success
    assert chat_bodies(router)[-1]["messages"][-1]["content"] == "budget tips?"
