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
from functools import lru_cache

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
_FRAGMENT = 8
"""A run of this many distinctive characters of the key (past a generic prefix such as
`sk-or-v1-`), anywhere, is hidden too: a key cut by a server's own truncation, reflected
in pieces, or streamed a few characters at a time."""
_BLOCK = _FRAGMENT // 2
"""Any run of `_FRAGMENT` distinctive characters holds one of the key's `_BLOCK`-character
blocks at offsets 0, 4, 8, … of its distinctive part: those are looked for, and only
around a hit is the run measured."""
_GENERIC_PREFIX = re.compile(r"(?:[a-z][a-z0-9]{0,5}-){1,3}")
"""`sk-`, `sk-or-v1-`, `sk-proj-`, `sk-ant-api03-`: words every key of a kind starts with."""
_TOKEN = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-"
_CANDIDATE = re.compile(
    r"(?i)(?:\b(?:bearer\s+|(?:proxy-)?authori[sz]ation[\"']?\s*[:=]\s*[\"']?(?:bearer\s+)?)"
    r"|\b(?=sk-or-))[A-Za-z0-9._~+/=-]*"
)
"""A credential's head and the token after it, however short: while its token may still
grow, a stream holds it back."""
_OPEN_LIMIT = 1024
"""A token after a credential's head held back at most this long (a longer one is text)."""
_HOLD = 64
"""Characters a stream holds back at least: a credential's head and its first 20."""
_BATCH = 32
"""New characters a stream gathers past its hold before it looks again: a piece of a few
characters (a token) costs a string append, and each character is looked at about twice."""

Span = tuple[int, int]


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """`text` with every secret, and anything shaped like a credential, replaced."""
    if not text:
        return text
    if _maybe(text):
        text = _SHAPES.sub(_hide, text)
    return _hidden(text, _secret_spans(text, _usable(secrets)))


def redact_answer(text: str, secrets: Iterable[str] = ()) -> str:
    """A model's answer with the key, pieces of it, and credential-looking `Bearer` /
    `Authorization` / `sk-or-` values hidden; placeholders in code examples stay."""
    if not text:
        return text
    return _hidden(text, _answer_spans(text, _usable(secrets)))


class StreamRedactor:
    """`redact_answer` for text that arrives in pieces: `feed` each piece, then `finish`.

    A key split across pieces (one character at a time, say) is found: `feed` returns only
    text that no later piece can turn into a secret, and holds back a tail as long as the
    key (at least `_HOLD` characters), more while a credential's token is still growing.
    The held text is looked at again only once `_BATCH` more characters have arrived, so
    the work is proportional to the text fed: the text already released is never looked
    at again. Without secrets it holds nothing and hides nothing.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = _usable(secrets)
        self.hold = max(_HOLD, *(len(secret) for secret in self.secrets)) if self.secrets else 0
        self._enough = self.hold + _BATCH
        """Characters held before the window is looked at again."""
        self._pending = ""
        self._swallowing = False
        """Inside a credential already hidden: its token's next characters are dropped."""

    @property
    def pending(self) -> int:
        """Characters held back."""
        return len(self._pending)

    def feed(self, text: str) -> str:
        """The text that can be shown now, redacted ('' while everything is held)."""
        if not self.secrets:
            return text
        window = self._pending + text
        if len(window) < self._enough:
            self._pending = window  # too little yet to release any of it
            return ""
        if self._swallowing:
            kept = window.lstrip(_TOKEN)
            if not kept:
                self._pending = ""
                return ""
            window, self._swallowing = kept, False
        spans, cut = self._cut(window)
        self._pending = window[cut:]
        return _hidden(window[:cut], [(low, min(high, cut)) for low, high in spans if low < cut])

    def finish(self) -> str:
        """Everything still held, redacted: the stream has ended."""
        window, self._pending, self._swallowing = self._pending, "", False
        return _hidden(window, _answer_spans(window, self.secrets)) if window else ""

    def _cut(self, window: str) -> tuple[list[Span], int]:
        """The spans to hide in `window`, and how much of it can be released."""
        end = len(window)
        cut = max(0, end - self.hold)
        spans = _secret_spans(window, self.secrets)
        kept = list(spans)  # a credential is released with its head, or not at all
        if _maybe(window):
            for match in _CANDIDATE.finditer(window):
                low, high = match.span()
                head = _HEAD.match(match.group())
                token = low + (head.end() if head else 0)
                credential = _CREDENTIAL.match(window, low) is not None
                if credential:
                    spans.append((token, high))
                    kept.append((low, high))
                if high == end and low < cut:  # its token may still grow
                    if credential:  # hidden already: drop the rest of its token
                        self._swallowing = True
                        return spans, end
                    if high - low <= _OPEN_LIMIT:
                        cut = low
        for low, high in sorted(kept, reverse=True):  # never release part of a span
            if low < cut < high:
                cut = low
        return spans, cut


def _usable(secrets: Iterable[str]) -> tuple[str, ...]:
    """Secrets long enough to look for (a test's "x" would blank ordinary words)."""
    return tuple(secret for secret in secrets if secret and len(secret) >= _MIN_SECRET)


def _maybe(text: str) -> bool:
    lowered = text.lower()
    return any(word in lowered for word in _WORDS)


def _hide(match: re.Match[str]) -> str:
    found = match.group()
    head = _HEAD.match(found)
    return (head.group() if head else "") + HIDDEN


def _answer_spans(text: str, secrets: tuple[str, ...]) -> list[Span]:
    """Where `text` holds a secret, a piece of one, or a credential-looking token."""
    spans = _secret_spans(text, secrets)
    if _maybe(text):
        for match in _CREDENTIAL.finditer(text):
            head = _HEAD.match(match.group())
            spans.append((match.start() + (head.end() if head else 0), match.end()))
    return spans


def _secret_spans(text: str, secrets: tuple[str, ...]) -> list[Span]:
    spans: list[Span] = []
    for secret in secrets:
        spans += _pieces_of(text, secret)
    return spans


@lru_cache(maxsize=8)
def _blocks(secret: str) -> tuple[int, tuple[str, ...], re.Pattern[str]]:
    """Where the secret's distinctive part starts, that part's blocks, and a pattern that
    finds any of them (one scan tells that a text holds none, the usual case)."""
    prefix = _GENERIC_PREFIX.match(secret)
    start = prefix.end() if prefix and len(secret) - prefix.end() >= 2 * _FRAGMENT else 0
    core = secret[start:]
    blocks = dict.fromkeys(core[k : k + _BLOCK] for k in range(0, len(core) - _BLOCK + 1, _BLOCK))
    return start, tuple(blocks), re.compile("|".join(map(re.escape, blocks)))


def _pieces_of(text: str, secret: str) -> list[Span]:
    """Every run of the secret's characters in `text` holding `_FRAGMENT` or more of its
    distinctive ones (the whole secret included): a few fast scans for its blocks, and
    only around a hit is the run measured."""
    start, blocks, any_block = _blocks(secret)
    if not blocks or any_block.search(text) is None:
        return []
    spans: list[Span] = []
    for block in blocks:
        found = text.find(block)
        while found != -1:
            if not any(low <= found and found + _BLOCK <= high for low, high in spans):
                spans += _run_at(text, secret, start, found)
            found = text.find(block, found + 1)
    return spans


def _run_at(text: str, secret: str, start: int, found: int) -> list[Span]:
    """The run of the secret's characters around a block found at `found`, if it holds
    enough of its distinctive ones."""
    low, high = found, found + _BLOCK
    while low > 0 and text[low - 1 : high] in secret:
        low -= 1
    while high < len(text) and text[low : high + 1] in secret:
        high += 1
    run = text[low:high]
    at = secret.rfind(run)  # the latest place: the most distinctive characters
    return [(low, high)] if at + len(run) - max(at, start) >= _FRAGMENT else []


def _hidden(text: str, spans: list[Span]) -> str:
    """`text` with each span (overlapping or touching ones as one) replaced by HIDDEN."""
    if not spans:
        return text
    out: list[str] = []
    position = 0
    for low, high in sorted(spans):
        if high <= low:
            continue
        if out and low <= position:  # overlaps or touches the span hidden last
            position = max(position, high)
            continue
        out += [text[position:low], HIDDEN]
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
