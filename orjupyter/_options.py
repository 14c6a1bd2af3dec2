"""The `%%gpt4o` line: option values, one-line questions and commands."""

from __future__ import annotations

import json
import shlex
from typing import Any

from IPython.core.error import UsageError

SUBCOMMANDS = ("help", "key", "usage", "reset", "alias", "models", "credits", "budget")


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


def parse_options(magic: Any, line: str) -> Any:
    """Parse a magic's line the POSIX way, so `--system "Be terse."` loses its quotes."""
    try:
        argv = shlex.split(line, posix=True)
    except ValueError as exc:
        raise UsageError(f"cannot read the options ({exc}); check the quotes") from None
    return magic.parser.parse_args(argv)


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


def is_command(line: str) -> bool:
    words = line.split()
    return not words or words[0] in SUBCOMMANDS


def split_question(line: str) -> tuple[str, str]:
    """`%gpt4o -m x what is {y}?` → ("-m x", "what is {y}?"): options first, then words."""
    if not line.lstrip().startswith("-"):
        return "", line
    tokens = line.split()
    takes_value = {
        "-o",
        "--output",
        "-m",
        "--model",
        "--system",
        "--temperature",
        "--max-tokens",
        "--detail",
        "-f",
        "--format",
        "--thread",
        "--models",
        "--provider",
    }
    index = 0
    while index < len(tokens) and tokens[index].startswith("-"):
        index += 2 if tokens[index] in takes_value else 1
    if index >= len(tokens):
        raise UsageError("the question is empty: %gpt4o [options] QUESTION")
    options = " ".join(tokens[:index])
    question = line[line.index(tokens[index], len(options)) :]
    return options, question
