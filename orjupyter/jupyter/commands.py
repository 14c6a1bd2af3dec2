"""`%gpt4o COMMAND`: every command is one row of `COMMANDS`: its name, its one-line
summary, the function that runs it and how its arguments are declared (a subparser each).
The parser, the dispatch and `%gpt4o help` all read that table."""

from __future__ import annotations

import argparse
import re
import textwrap
from argparse import Namespace
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

from orjupyter.core.errors import OptionError
from orjupyter.jupyter.bills import reconcile
from orjupyter.jupyter.config import SecretStr
from orjupyter.jupyter.grammar import Parser, cell_parser, posix_words

if TYPE_CHECKING:
    from orjupyter.jupyter.magic import OrJupyterMagics

ABOUT = """Ask an OpenRouter model (GPT-4o by default) about the cell, streamed live.

In the cell, `{name}` puts a notebook variable in place: an image (IMAGE_KINDS)
travels as an image; a DataFrame, a data array, a container or an exception as a
description made for a model; a string whole. `{x:image}`, `{x:text}` and `{x:full}` choose.
`{In[3]}`, `{Out[5]}`, `{Err[7]}` (the traceback of a failed cell) and `{_}` work;
`{{` and `}}` are literal braces. `--context N` sends the N cells run before, with
their outputs and plots. The answer streams into a panel with its token usage and
cost, and stays in the notebook.

`%gpt4o [options] QUESTION` asks a one-line question; `%gpt4o COMMAND` runs one of
the commands listed below.
"""
"""What `%gpt4o help` and `%gpt4o?` say before the options and commands (`help_text`
names the image kinds)."""


def budget_amount(text: str) -> str:
    """`%gpt4o budget AMOUNT|off`: dollars (`0.50`, `$2`) or `off`; the range is checked later."""
    try:
        Decimal("0" if text.lower() in {"off", "none"} else text.lstrip("$"))
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars") from None
    return text


def name_word(text: str) -> str:
    """A command's word (a filter, a name, a slug) never holds a question's punctuation."""
    if re.search(r"[?!,;\"'`]", text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a name")
    return text


@dataclass(frozen=True)
class Command:
    """One `%gpt4o COMMAND`: its one-line summary, what runs it, and its arguments."""

    name: str
    summary: str
    run: Callable[[OrJupyterMagics, Namespace], None]
    """What the command does, given the magic and its parsed arguments."""
    arguments: Callable[[argparse.ArgumentParser], object] = lambda _parser: None


def _usage_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--all", action="store_true", help="every notebook in the ledger")
    parser.add_argument(
        "--csv", metavar="FILE", help="write this notebook's calls to FILE (a new file)"
    )
    parser.add_argument("--frame", metavar="NAME", help="store the calls as a DataFrame")
    parser.add_argument("--rename", metavar="OLD", help="move OLD's calls to this notebook")
    parser.add_argument(
        "--team", action="store_true", help="every user's spend this month (a team's ledger)"
    )


def _cmd_help(_magics: OrJupyterMagics, _args: Namespace) -> None:
    print(help_text(ABOUT))


def _cmd_key(magics: OrJupyterMagics, _args: Namespace) -> None:
    import getpass

    key = getpass.getpass("OpenRouter API key (not echoed, not saved): ").strip()
    if not key:
        raise OptionError("no key entered; the previous key (if any) is kept")
    magics.settings.api_key = SecretStr(key)
    print("Key set for this session.")


def _cmd_usage(magics: OrJupyterMagics, args: Namespace) -> None:
    from orjupyter.jupyter import account

    account.usage(magics, args)


def _cmd_budget(magics: OrJupyterMagics, args: Namespace) -> None:
    from orjupyter.jupyter import account

    account.budget(magics, args.amount)
    if magics.notebook_panel is not None:
        magics.notebook_panel.changed()


def _cmd_models(magics: OrJupyterMagics, args: Namespace) -> None:
    from orjupyter.jupyter import account

    magics._sync(account.models(magics, args.filter))


def _cmd_credits(magics: OrJupyterMagics, _args: Namespace) -> None:
    from orjupyter.jupyter import account

    magics._sync(account.credits(magics))


def _cmd_panel(magics: OrJupyterMagics, args: Namespace) -> None:
    from orjupyter.jupyter.notebook_panel import show_panel

    show_panel(magics, side=args.side)


def _cmd_reconcile(magics: OrJupyterMagics, _args: Namespace) -> None:
    reconcile(magics)


def _cmd_reset(magics: OrJupyterMagics, args: Namespace) -> None:
    magics.session.threads.reset(args.thread)
    print(f"Thread {args.thread!r} reset." if args.thread else "All threads reset.")


def _cmd_alias(magics: OrJupyterMagics, args: Namespace) -> None:
    magics.add_alias(args.name, args.slug, force=args.force)
    print(f"%%{args.name} now asks {args.slug}.")


COMMANDS: tuple[Command, ...] = (
    Command("help", "this help", _cmd_help),
    Command("key", "enter the API key for this session (never echoed or saved)", _cmd_key),
    Command("usage", "this notebook's calls, tokens and billed cost", _cmd_usage, _usage_arguments),
    Command(
        "budget",
        "show or set this notebook's budget in dollars (`off` removes it); on a team's "
        "ledger, also yours and the team's, with what is left",
        _cmd_budget,
        lambda p: p.add_argument("amount", nargs="?", metavar="AMOUNT|off", type=budget_amount),
    ),
    Command(
        "models",
        "OpenRouter's models with prices (optionally filtered)",
        _cmd_models,
        lambda p: p.add_argument("filter", nargs="*", metavar="FILTER", type=name_word),
    ),
    Command("credits", "the key's credit, limit and usage on OpenRouter", _cmd_credits),
    Command(
        "panel",
        "this notebook's live panel: calls, tokens, cost, budget, calls in flight",
        _cmd_panel,
        lambda p: p.add_argument(
            "--side", action="store_true", help="dock it beside the notebook (jupyterlab-sidecar)"
        ),
    ),
    Command(
        "reconcile",
        "replace this notebook's estimated costs (stopped or failed calls) with OpenRouter's bill",
        _cmd_reconcile,
    ),
    Command(
        "alias",
        "a new %%NAME magic for another model",
        _cmd_alias,
        lambda p: (
            p.add_argument("name", metavar="NAME", type=name_word),
            p.add_argument("slug", metavar="SLUG", type=name_word),
            p.add_argument("--force", action="store_true", help="replace an existing magic"),
        ),
    ),
    Command(
        "reset",
        "forget a --thread's history (all threads without a name)",
        _cmd_reset,
        lambda p: p.add_argument("thread", nargs="?", metavar="THREAD", type=name_word),
    ),
)


def command_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="%gpt4o", add_help=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.summary, add_help=False)
        command.arguments(sub)
    return parser


def run_command(magics: OrJupyterMagics, args: Namespace) -> None:
    """Run the command `args` names (what `command_in` found): its row's function."""
    (command,) = (command for command in COMMANDS if command.name == args.command)
    command.run(magics, args)


def parse_command(line: str) -> Namespace:
    words = posix_words(line) or ["help"]
    return command_parser().parse_args(words)


def command_in(line: str, expand: Callable[[str], str] = str) -> Namespace | None:
    """The command the whole line (`expand`ed) is, else None: a question. A command's name
    followed only by flags, or by one word without `?` (`budget lots`), is a command typed
    wrong: its mistake is raised."""
    words = line.split()
    if words and words[0] not in {command.name for command in COMMANDS}:
        return None
    try:
        return parse_command(expand(line))
    except OptionError:
        rest = words[1:]
        if all(w.startswith("-") for w in rest) or (len(rest) == 1 and rest[0][-1] != "?"):
            raise
        return None


def help_text(doc: str) -> str:
    """`%gpt4o help`: what the magic does (refilled), its options, and its commands."""
    from orjupyter.core.image_sources import image_kinds  # not for every one-line question

    doc = doc.replace("IMAGE_KINDS", image_kinds())
    about = "\n\n".join(textwrap.fill(" ".join(p.split()), 80) for p in doc.strip().split("\n\n"))
    usage = cell_parser().format_help().strip()
    width = max(len(command.name) for command in COMMANDS)
    commands = "\n".join(
        f"  %gpt4o {command.name:<{width}}  {command.summary}" for command in COMMANDS
    )
    return f"{about}\n\n{usage}\n\ncommands:\n{commands}"
