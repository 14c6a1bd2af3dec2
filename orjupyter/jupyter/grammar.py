"""The magic's one grammar: the cell options and the one-line question.

Every option is one row of `OPTIONS`; the `%%gpt4o` parser, the one-line splitter
(`%gpt4o [options] QUESTION`) and the help all read that table, so a new option is one
edit here (a row whose `dest` is a field of `core/request.py`'s `CallOptions` sets it).
The `%gpt4o COMMAND`s are `commands.py`'s table; they read lines with this parser.

Option values are read the POSIX way (`--system "Be terse."` loses its quotes); the
question after the options is kept exactly as typed.
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
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


class Parser(argparse.ArgumentParser):
    """argparse that reports a mistake as one line instead of exiting."""

    def error(self, message: str) -> Any:
        raise OptionError(f"{message}; see %gpt4o help")


def cell_parser(prog: str = "%%gpt4o") -> argparse.ArgumentParser:
    parser = Parser(prog=prog, add_help=False, allow_abbrev=False)
    for option in OPTIONS:
        parser.add_argument(*option.flags, help=option.help, **option.settings)
    return parser


def posix_words(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError as exc:
        raise OptionError(f"cannot read the options ({exc}); check the quotes") from None


def parse_options(line: str) -> argparse.Namespace:
    """The `%%gpt4o` line's options."""
    args = cell_parser().parse_args(posix_words(line))
    for other in ("map", "compare", "bg") if args.tools is not None else ():
        if getattr(args, other):
            raise OptionError(f"--tools runs one loop in this cell; drop --{other} or --tools")
    return args


# A shell-like word: runs of plain characters and quoted strings, kept with its position.
_WORD = re.compile(r"""(?:[^\s"']+|"(?:\\.|[^"\\])*"|'[^']*')+""")


def split_question(line: str) -> tuple[str, str]:
    """`%gpt4o -m x --system "Be terse." What is {y}?` → options, question.

    The options are read with the cell's rules (quotes included); the question is the rest
    of the line exactly as typed. `--` ends the options early."""
    flags = {flag: option for option in OPTIONS for flag in option.flags}
    position, end = 0, 0
    while (match := _WORD.search(line, position)) and not line[position : match.start()].strip():
        word = posix_words(match.group())[0]
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
            posix_words(line[position:])
        value = posix_words(following.group())[0]
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
