"""Secrets out of server text: the configured key, whatever its shape, and any
`Bearer …` / `Authorization: …` text, before anything is shown, stored, cached or logged.

Pure. The service applies `redact` where server text enters the package (error bodies,
mid-stream error objects, model lists) and `redact_answer` to the streamed answer; the
store applies `redact` again to the error text it writes, as a second lock on the door.

An answer is a model's text, and code that shows how to call an API is a common answer:
`headers = {"Authorization": f"Bearer {api_key}"}` must survive. So in an answer only the
configured key (and pieces of it), and `Bearer`/`Authorization`/`sk-or-` values that look
like real credentials (20 or more token characters, letters and digits both), are hidden;
placeholders such as `YOUR_API_KEY`, `{api_key}` or `$OPENROUTER_API_KEY` stay.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

HIDDEN = "<key hidden>"
_MIN_SECRET = 8  # shorter "keys" (a test's "x") would blank ordinary words
_SHAPES = re.compile(
    r"(?i)(?:\bBearer\s+[^\s\"',;]+)"  # Bearer sk-…
    r"|(?:\b(?:proxy-)?Authori[sz]ation\b[\"']?\s*[:=]\s*[\"']?(?:\w+\s+)?[^\s\"',;]+)"
    r"|(?:\bsk-or-[A-Za-z0-9_-]{6,})"
    r"|(?:\bx-api-key\b[\"']?\s*[:=]\s*[\"']?[^\s\"',;]+)"
)
_HEAD = re.compile(
    r"(?i)bearer\s+|(?:proxy-)?authori[sz]ation[\"']?\s*[:=]\s*[\"']?|x-api-key[\"']?\s*[:=]\s*[\"']?"
)
_CREDENTIAL = re.compile(
    r"(?i)(?:\b(?:bearer\s+|(?:proxy-)?authori[sz]ation[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)"
    r"|\b(?=sk-or-))"
    r"(?=[A-Za-z0-9._~+/=-]*\d)(?=[A-Za-z0-9._~+/=-]*[A-Za-z])[A-Za-z0-9._~+/=-]{20,}"
)
_FRAGMENT = 16
"""A run of this many characters of the key, anywhere, is hidden too (a key cut by a
server's own truncation, or reflected in pieces)."""


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret, and anything shaped like a credential, replaced."""
    if not text:
        return text
    text = _SHAPES.sub(_hide, text)
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = _without(text, secret)
    return text


def redact_answer(text: str, secrets: Iterable[str] = ()) -> str:
    """A model's answer with the key, pieces of it, and credential-looking `Bearer` /
    `Authorization` / `sk-or-` values hidden; placeholders in code examples stay."""
    if not text:
        return text
    text = _CREDENTIAL.sub(_hide, text)
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = _without(text, secret)
    return text


def _hide(match: re.Match[str]) -> str:
    found = match.group()
    head = _HEAD.match(found)
    return (head.group() if head else "") + HIDDEN


def _without(text: str, secret: str) -> str:
    if secret in text:
        text = text.replace(secret, HIDDEN)
    if len(secret) <= _FRAGMENT:
        return text
    # pieces of the key: only looked for when one of its rarer runs is present at all
    for start in range(0, len(secret) - _FRAGMENT + 1):
        piece = secret[start : start + _FRAGMENT]
        if piece in text:
            text = _hide_runs(text, secret)
            break
    return text


def _hide_runs(text: str, secret: str) -> str:
    """Replace every maximal run of ≥ _FRAGMENT characters that is a substring of `secret`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        length = _longest_run(text, i, secret)
        if length >= _FRAGMENT:
            out.append(HIDDEN)
            i += length
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def _longest_run(text: str, start: int, secret: str) -> int:
    length = 0
    while start + length < len(text) and text[start : start + length + 1] in secret:
        length += 1
    return length


def redact_json(value: object, secrets: Iterable[str] = ()) -> object:
    """A JSON value (dicts, lists, strings) with `redact` applied to every string in it."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: redact_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item, secrets) for item in value]
    return value
