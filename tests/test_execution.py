"""How typed input reaches the magic: one-line questions that end in `?`, and a `%%gpt4o`
cell typed line by line (terminal IPython, `jupyter console`)."""

from __future__ import annotations

import pytest
from notebook_support import typed_into_ipython


def chat_bodies(router) -> list[dict]:
    return [r.body for r in router.requests if r.path.endswith("/chat/completions")]


@pytest.mark.parametrize(
    "question",
    ["What is a p-value?", "What is a p-value??", "Why is the sky blue ?"],
)
def test_a_one_line_question_ending_in_a_question_mark_is_asked(shell, router, capsys, question):
    assert shell.run_cell(f"%gpt4o {question}").success
    assert chat_bodies(router)[-1]["messages"][-1]["content"] == question
    assert "not found" not in capsys.readouterr().out


def test_options_and_placeholders_work_in_a_question_mark_question(shell, router):
    shell.user_ns["x"] = 42
    cell = "y = 1\n%gpt4o -m openai/gpt-4o-mini What is {x} squared?\n"
    assert shell.run_cell(cell).success
    body = chat_bodies(router)[-1]
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["messages"][-1]["content"] == "What is 42 squared?"


def test_an_alias_asks_a_question_mark_question_too(shell, router):
    shell.run_line_magic("gpt4o", "alias mini openai/gpt-4o-mini")
    assert shell.run_cell("%mini Is this a question?").success
    body = chat_bodies(router)[-1]
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["messages"][-1]["content"] == "Is this a question?"


def test_a_question_mark_question_is_asked_in_a_kernel_too(kernel, router):
    kernel.execute_interactive("%load_ext orjupyter", timeout=60)
    reply = kernel.execute_interactive("x = 7\n%gpt4o What is {x} squared?", timeout=60)
    assert reply["content"]["status"] == "ok"
    assert chat_bodies(router)[-1]["messages"][-1]["content"] == "What is 7 squared?"


@pytest.mark.parametrize("source", ["%gpt4o?", "%%gpt4o?"])
def test_the_magic_name_with_a_question_mark_still_shows_the_help(shell, router, capsys, source):
    assert shell.run_cell(source).success
    out = capsys.readouterr().out
    assert "Ask an OpenRouter model" in out
    assert "%gpt4o budget" in out  # the whole help: options and commands
    assert chat_bodies(router) == []


def test_a_typed_cell_magic_waits_for_its_body_like_timeit(shell):
    check = shell.input_transformer_manager.check_complete
    assert check("%%gpt4o\n") == check("%%timeit\n") == ("incomplete", 0)
    assert check("%%gpt4o -m openai/gpt-4o-mini\nWhat is {x}?\n")[0] == "incomplete"
    assert check("%%gpt4o\nWhat is {x}?\n\n") == ("complete", None)
    assert check("%gpt4o What is a p-value?\n") == ("complete", None)


def test_the_kernel_says_a_typed_cell_magic_is_incomplete(kernel):
    """`jupyter console` asks the kernel whether to run what was typed."""
    kernel.execute_interactive("%load_ext orjupyter", timeout=60)

    def status(code: str) -> str:
        msg_id = kernel.is_complete(code)
        while True:
            reply = kernel.get_shell_msg(timeout=30)
            if reply["parent_header"].get("msg_id") == msg_id:
                return str(reply["content"]["status"])

    assert status("%%gpt4o\n") == status("%%timeit\n") == "incomplete"
    assert status("%%gpt4o\nhello\n") == "incomplete"
    assert status("%%gpt4o\nhello\n\n") == "complete"


def test_a_cell_typed_into_terminal_ipython_is_asked_with_its_body(router):
    """Typed line by line (IPython's plain prompt, as in a pipe): Enter after `%%gpt4o`
    continues the cell; blank lines send it (as they send a `%%timeit` cell)."""
    typed = "%%gpt4o -m openai/gpt-4o-mini\nWhat is a p-value?\n\n\nexit\n"
    result = typed_into_ipython(typed)
    assert "the cell is empty" not in result.stdout + result.stderr
    assert "NameError" not in result.stdout + result.stderr
    body = chat_bodies(router)[-1]
    assert body["model"] == "openai/gpt-4o-mini"
    assert body["messages"][-1]["content"] == "What is a p-value?"
