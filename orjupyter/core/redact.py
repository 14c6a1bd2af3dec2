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
_WORDS = ("bearer", "authori", "sk-or-", "x-api-key")
"""A cheap first look: the credential patterns run only where one of these words is."""
_HEAD = re.compile(
    r"(?i)bearer\s+|(?:proxy-)?authori[sz]ation[\"']?\s*[:=]\s*[\"']?|x-api-key[\"']?\s*[:=]\s*[\"']?"
)
_CREDENTIAL = re.compile(
    r"(?i)(?:\b(?:bearer\s+|(?:proxy-)?authori[sz]ation[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)"
    r"|\b(?=sk-or-))"
    r"(?=[A-Za-z0-9._~+/=-]*\d)(?=[A-Za-z0-9._~+/=-]*[A-Za-z])[A-Za-z0-9._~+/=-]{20,}"
)
_BLOCK = 8
_FRAGMENT = 16
"""A run of this many characters of the key, anywhere, is hidden too (a key cut by a
server's own truncation, or reflected in pieces)."""


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret, and anything shaped like a credential, replaced."""
    if not text:
        return text
    if _maybe(text):
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
    if _maybe(text):
        text = _CREDENTIAL.sub(_hide, text)
    for secret in secrets:
        if secret and len(secret) >= _MIN_SECRET:
            text = _without(text, secret)
    return text


def _maybe(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _WORDS)


def _hide(match: re.Match[str]) -> str:
    found = match.group()
    head = _HEAD.match(found)
    return (head.group() if head else "") + HIDDEN


def _without(text: str, secret: str) -> str:
    """`text` with the secret, and every run of `_FRAGMENT` or more of its characters in
    a row, hidden. A run that long always contains one of the secret's 8-character blocks
    at offsets 0, 8, 16, …: those are looked for (a few fast scans), and only around a
    hit is the run measured."""
    if secret in text:
        text = text.replace(secret, HIDDEN)
    if len(secret) < _FRAGMENT:
        return text
    spans: list[tuple[int, int]] = []
    for offset in range(0, len(secret) - _BLOCK + 1, _BLOCK):
        block = secret[offset : offset + _BLOCK]
        found = text.find(block)
        while found != -1:
            low, high = found, found + _BLOCK
            while low > 0 and text[low - 1 : high] in secret:
                low -= 1
            while high < len(text) and text[low : high + 1] in secret:
                high += 1
            if high - low >= _FRAGMENT:
                spans.append((low, high))
            found = text.find(block, found + 1)
    return _hide_spans(text, spans) if spans else text


def _hide_spans(text: str, spans: list[tuple[int, int]]) -> str:
    out, position = [], 0
    for low, high in sorted(spans):
        if high <= position:
            continue
        out += [text[position : max(low, position)], HIDDEN] if low >= position else [HIDDEN]
        position = high
    return "".join(out) + text[position:]


def redact_json(value: object, secrets: Iterable[str] = ()) -> object:
    """A JSON value (dicts, lists, strings) with `redact` applied to every string in it."""
    if isinstance(value, str):
        return redact(value, secrets)
    if isinstance(value, dict):
        return {key: redact_json(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_json(item, secrets) for item in value]
    return value
