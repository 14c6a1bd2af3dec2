"""The magic's one grammar: the cell options, the one-line question and the commands.

Every option is one row of `OPTIONS`; the `%%gpt4o` parser, the one-line splitter
(`%gpt4o [options] QUESTION`) and the help all read that table, so a new option is one
edit here (a row whose `dest` is a field of `core/request.py`'s `CallOptions` sets it).
Every `%gpt4o COMMAND` is one row of `COMMANDS` (a subparser each).

Option values are read the POSIX way (`--system "Be terse."` loses its quotes); the
question after the options is kept exactly as typed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orjupyter.core.domain import DETAILS
from orjupyter.core.errors import OptionError
from orjupyter.core.formats import FORMATS, formats_help
from orjupyter.core.request import PDF_ENGINES, REASONING_EFFORTS


def temperature(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 2.0:
        raise ValueError
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError
    return value


RESERVED_NAMES = frozenset(
    {"In", "Out", "Err", "get_ipython", "exit", "quit", "open", "print", "display"}
)
_IPYTHON_NAME = re.compile(r"_+|_[ioh]+|_[iod]h|_i+\d*|_\d+|__\w*__")


def output_name(text: str) -> str:
    """`-o NAME`: a Python identifier that IPython itself does not rely on."""
    import keyword

    if not text.isidentifier() or keyword.iskeyword(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a Python variable name")
    if text in RESERVED_NAMES or _IPYTHON_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a name IPython relies on; choose another variable name"
        )
    return text


def context_count(text: str) -> int | str:
    """`--context N` (cells, 0 or more) or `--context all`."""
    if text.strip().lower() == "all":
        return "all"
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"takes a number of cells (0 or more) or all, not {text!r}"
        )
    return value


def concurrency(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of requests; give a whole number, 1 or more"
        )
    return value


def amount(text: str) -> Decimal:
    try:
        value = Decimal(text.strip().lstrip("$"))
    except InvalidOperation:
        value = Decimal(0)
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars, like 0.50")
    return value


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


def fallbacks(text: str) -> tuple[str, ...]:
    slugs = tuple(slug.strip() for slug in text.split(",") if slug.strip())
    if not slugs:
        raise ValueError
    return slugs


def provider(text: str) -> dict[str, Any]:
    value = json.loads(text)
    if not isinstance(value, dict):
        raise ValueError
    return value


@dataclass(frozen=True)
class Option:
    """One `%%gpt4o` option: its flags and `argparse.add_argument` keywords."""

    flags: tuple[str, ...]
    help: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def takes_value(self) -> bool:
        return self.settings.get("action") not in {"store_true", "store_false"}

    @property
    def value_optional(self) -> bool:
        return self.settings.get("nargs") == "?"


OPTIONS: tuple[Option, ...] = (
    Option(
        ("-o", "--output"),
        "store the reply in this variable",
        {"metavar": "NAME", "type": output_name},
    ),
    Option(("-m", "--model"), "OpenRouter model (default: GPT-4o)", {"metavar": "SLUG"}),
    Option(("--system",), "system prompt", {"metavar": "TEXT"}),
    Option(
        ("--temperature",), "sampling temperature, 0 to 2", {"type": temperature, "metavar": "T"}
    ),
    Option(("--max-tokens",), "longest answer, in tokens", {"type": positive_int, "metavar": "N"}),
    Option(("--seed",), "sampling seed, for repeatable answers", {"type": int, "metavar": "N"}),
    Option(
        ("--detail",), "image detail: auto, low or high", {"choices": DETAILS, "default": "auto"}
    ),
    Option(
        ("-f", "--format"),
        formats_help(),
        {"choices": FORMATS, "default": "markdown"},
    ),
    Option(
        ("--context",),
        "send the N cells run before this one, with their outputs and images "
        "(all: as many as fit OrJupyter.context_tokens; default OrJupyter.context)",
        {"type": context_count, "metavar": "N|all"},
    ),
    Option(("--thread",), "start or continue a named conversation", {"metavar": "NAME"}),
    Option(("--new",), "start the --thread afresh", {"action": "store_true"}),
    Option(("--no-cache",), "call the model even if cached", {"action": "store_true"}),
    Option(("--dry-run",), "show what would be sent and its cost", {"action": "store_true"}),
    Option(
        ("--bg",),
        "answer in the background: the cell returns at once; -o NAME holds a pending reply "
        "(NAME.wait() waits)",
        {"action": "store_true"},
    ),
    Option(
        ("--think",),
        "let a reasoning model think first (effort low, medium or high; medium when given "
        "alone); its reasoning shows in a collapsed Thinking section",
        {
            "nargs": "?",
            "const": "medium",
            "choices": REASONING_EFFORTS,
            "metavar": "EFFORT",
            "dest": "reasoning_effort",
        },
    ),
    Option(
        ("--web",),
        "search the web first (OpenRouter's web search, about $0.02 a call); numbered "
        "sources follow the answer",
        {"action": "store_true", "dest": "web_search"},
    ),
    Option(
        ("--pdf-engine",),
        "how OpenRouter reads PDFs: native (the model reads the file), mistral-ocr "
        "(scans, $2 per 1,000 pages) or cloudflare-ai (free)",
        {"choices": PDF_ENGINES, "metavar": "ENGINE"},
    ),
    Option(
        ("--compare",),
        "ask these models at the same time and show the answers side by side; -o NAME "
        "holds {model: reply}",
        {"type": fallbacks, "metavar": "A,B,C"},
    ),
    Option(
        ("--models",),
        "OpenRouter fallback models",
        {"type": fallbacks, "metavar": "A,B", "dest": "fallback_models", "default": ()},
    ),
    Option(
        ("--provider",), "OpenRouter provider preferences", {"type": provider, "metavar": "JSON"}
    ),
    Option(
        ("--schema",),
        "answer as this pydantic model, dataclass, TypedDict or JSON Schema dict "
        "(-o stores the validated value)",
        {"metavar": "NAME"},
    ),
    Option(
        ("--retries",),
        "with --schema: ask again (with the validation error) up to N times when an "
        "answer is not the schema (default 1; 0: never)",
        {"type": int, "choices": range(11), "metavar": "N"},
    ),
    Option(
        ("--map",),
        "ask once per row of this DataFrame, Series, list or dict ({column}, {row}, "
        "{item}, {index}); -o stores the answers in the same order",
        {"metavar": "SOURCE"},
    ),
    Option(
        ("--concurrency",),
        "with --map: requests in flight at once (default 8)",
        {"type": concurrency, "metavar": "N"},
    ),
    Option(
        ("--budget",),
        "with --map or --tools: stop sending once this run could cost more than AMOUNT dollars",
        {"type": amount, "metavar": "AMOUNT"},
    ),
    Option(
        ("--tools",),
        "let the model call these notebook functions (names, or a variable holding a list "
        "of functions); they run in this kernel with your rights",
        {"metavar": "F,G"},
    ),
    Option(
        ("--max-steps",),
        "with --tools: at most N rounds of calls (default 10)",
        {"type": positive_int, "metavar": "N"},
    ),
    Option(
        ("--approve",),
        "with --tools: each call waits for your Approve (y/n/a in a terminal)",
        {"action": "store_true"},
    ),
)


@dataclass(frozen=True)
class Command:
    """One `%gpt4o COMMAND`: its one-line summary and how its arguments are declared."""

    name: str
    summary: str
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


COMMANDS: tuple[Command, ...] = (
    Command("help", "this help"),
    Command("key", "enter the API key for this session (never echoed or saved)"),
    Command("usage", "this notebook's calls, tokens and billed cost", _usage_arguments),
    Command(
        "budget",
        "show or set this notebook's budget in dollars (`off` removes it)",
        lambda p: p.add_argument("amount", nargs="?", metavar="AMOUNT|off", type=budget_amount),
    ),
    Command(
        "models",
        "OpenRouter's models with prices (optionally filtered)",
        lambda p: p.add_argument("filter", nargs="*", metavar="FILTER", type=name_word),
    ),
    Command("credits", "the key's credit, limit and usage on OpenRouter"),
    Command(
        "panel",
        "this notebook's live panel: calls, tokens, cost, budget, calls in flight",
        lambda p: p.add_argument(
            "--side", action="store_true", help="dock it beside the notebook (jupyterlab-sidecar)"
        ),
    ),
    Command(
        "reconcile",
        "replace this notebook's estimated costs (stopped or failed calls) with OpenRouter's bill",
    ),
    Command(
        "alias",
        "a new %%NAME magic for another model",
        lambda p: (
            p.add_argument("name", metavar="NAME", type=name_word),
            p.add_argument("slug", metavar="SLUG", type=name_word),
            p.add_argument("--force", action="store_true", help="replace an existing magic"),
        ),
    ),
    Command(
        "reset",
        "forget a --thread's history (all threads without a name)",
        lambda p: p.add_argument("thread", nargs="?", metavar="THREAD", type=name_word),
    ),
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one line instead of exiting."""

    def error(self, message: str) -> Any:
        raise OptionError(f"{message}; see %gpt4o help")


def cell_parser(prog: str = "%%gpt4o") -> argparse.ArgumentParser:
    parser = _Parser(prog=prog, add_help=False, allow_abbrev=False)
    for option in OPTIONS:
        parser.add_argument(*option.flags, help=option.help, **option.settings)
    return parser


def command_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="%gpt4o", add_help=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for command in COMMANDS:
        sub = commands.add_parser(command.name, help=command.summary, add_help=False)
        command.arguments(sub)
    return parser


def _posix_words(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise OptionError(f"cannot read the options ({exc}); check the quotes") from None


def parse_options(line: str) -> argparse.Namespace:
    """The `%%gpt4o` line's options."""
    args = cell_parser().parse_args(_posix_words(line))
    for other in ("map", "compare", "bg") if args.tools is not None else ():
        if getattr(args, other):
            raise OptionError(f"--tools runs one loop in this cell; drop --{other} or --tools")
    return args


def parse_command(line: str) -> argparse.Namespace:
    words = _posix_words(line) or ["help"]
    return command_parser().parse_args(words)


def command_in(line: str, expand: Callable[[str], str] = str) -> argparse.Namespace | None:
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


# A shell-like word: runs of plain characters and quoted strings, kept with its position.
_WORD = re.compile(r"""(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+""")


def split_question(line: str) -> tuple[str, str]:
    """`%gpt4o -m x --system "Be terse." What is {y}?` → options, question.

    The options are read with the cell's rules (quotes included); the question is the rest
    of the line exactly as typed. `--` ends the options early."""
    flags = {flag: option for option in OPTIONS for flag in option.flags}
    position, end = 0, 0
    while (match := _WORD.search(line, position)) and not line[position : match.start()].strip():
        word = _posix_words(match.group())[0]
        if word == "--":
            end, position = match.start(), match.end()
            break
        if not word.startswith("-") or word == "-":
            break
        name, has_value, _value = word.partition("=")
        option = flags.get(name)
        position = end = match.end()
        if option is None or has_value or not option.takes_value:
            continue
        following = _WORD.search(line, position)
        if following is None:
            break
        if line[position : following.start()].strip():  # a quote that never closes
            _posix_words(line[position:])
        value = _posix_words(following.group())[0]
        if option.value_optional and value not in option.settings.get("choices", ()):
            continue
        position = end = following.end()
    else:
        if match is None:
            position = len(line)
    question = line[position:].strip()
    if not question:
        raise OptionError("the question is empty: %gpt4o [options] QUESTION")
    return line[:end].strip(), question


def help_text(doc: str) -> str:
    """`%gpt4o help`: what the magic does (refilled), its options, and its commands."""
    about = "\n\n".join(textwrap.fill(" ".join(p.split()), 80) for p in doc.strip().split("\n\n"))
    usage = cell_parser().format_help().strip()
    width = max(len(command.name) for command in COMMANDS)
    commands = "\n".join(
        f"  %gpt4o {command.name:<{width}}  {command.summary}" for command in COMMANDS
    )
    return f"{about}\n\n{usage}\n\ncommands:\n{commands}"
