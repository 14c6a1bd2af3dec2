"""Accumulating a streamed chat completion, chunk by chunk, with no I/O.

Chunks are read by attribute (the SDK's pydantic chunks, or anything shaped like them),
so the hot path costs a few attribute reads per chunk and no copies.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orjupyter.core.billed import BilledUsage, read_usage
from orjupyter.core.domain import Citation, Outcome, ToolCall
from orjupyter.core.redact import StreamRedactor, redact_answer

MAX_ANSWER_CHARACTERS = 4_000_000
"""An answer longer than this is a misbehaving server (a model's longest is ~500,000)."""
MAX_TOOL_CALLS = 128
"""More function calls than this in one reply is a misbehaving server."""


class OversizedAnswer(Exception):
    """The server sent more text than any model answers with."""

    def __init__(self, characters: int) -> None:
        super().__init__(f"{characters:,} characters")
        self.characters = characters


@dataclass
class StreamState:
    """The answer so far. Feed it every chunk with `handle_chunk`, then `release` the rest.

    With `secrets`, `text` and `reasoning` are what can be shown: redacted, and short of a
    held-back tail that a later chunk could still turn into a key (`StreamRedactor`);
    `release` adds the tails once the stream has ended. `length` counts what arrived.
    """

    pieces: list[str] = field(default_factory=list)
    id: str = ""
    model: str = ""
    provider: str | None = None
    finish_reason: str | None = None
    usage: BilledUsage | None = None
    content_chunks: int = 0
    length: int = 0
    secrets: tuple[str, ...] = ()
    chunks: int = 0
    thoughts: list[str] = field(default_factory=list)
    reasoning_chunks: int = 0
    citations: list[Citation] = field(default_factory=list)
    tool_drafts: dict[int, list[str]] = field(default_factory=dict)
    """Function calls so far, by their stream index: [id, name, arguments]."""
    tool_chunks: int = 0
    tool_length: int = 0
    reasoning_details: list[dict[str, Any]] = field(default_factory=list)
    shown: int = 0
    """Grows whenever `text` or `reasoning` does: the views have something new."""
    text_length: int = 0
    """Characters of `text` (what can be shown): a view's mark for `text_since`."""
    reasoning_length: int = 0
    """Characters of `reasoning`: a view's mark for `reasoning_since`."""
    _answer: StreamRedactor = field(init=False, repr=False)
    _thinking: StreamRedactor = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._answer = StreamRedactor(self.secrets)
        self._thinking = StreamRedactor(self.secrets)

    def release(self) -> None:
        """The stream has ended: the held-back tails join the text and the reasoning."""
        self._release_thoughts()
        self.add_text(self._answer.finish())

    def _release_thoughts(self) -> None:
        self.add_thought(self._thinking.finish())

    def add_text(self, piece: str) -> None:
        """Append showable answer text (already redacted)."""
        if piece:
            self.pieces.append(piece)
            self.text_length += len(piece)
            self.shown += 1

    def add_thought(self, piece: str) -> None:
        """Append showable reasoning (already redacted)."""
        if piece:
            self.thoughts.append(piece)
            self.reasoning_length += len(piece)
            self.shown += 1

    def handle_chunk(self, chunk: Any) -> str:
        """Take one chunk; return the answer text it made showable ('' for none). Reasoning
        (`delta.reasoning`) goes to `thoughts`, citations to `citations`. Raises
        `OversizedAnswer` when the answer grows past `MAX_ANSWER_CHARACTERS`.

        Runs for every chunk: a chunk of text alone costs a few attribute reads and a
        string append; what is rarer (extras, function calls) is read only when present."""
        self.chunks += 1
        if not self.id:  # the envelope repeats on every chunk: read it once
            self.id = getattr(chunk, "id", None) or ""
            self.model = getattr(chunk, "model", None) or self.model
            self.provider = getattr(chunk, "provider", None) or self.provider
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = read_usage(usage)
        added = ""
        for choice in getattr(chunk, "choices", None) or ():
            delta = getattr(choice, "delta", None)
            if delta is not None:
                content = getattr(delta, "content", None)
                if content:
                    added += content
                # OpenRouter's additions are undeclared fields of the SDK's delta: read from
                # its dict of extras, once (a missing attribute costs the SDK an exception);
                # the slot behind pydantic's `model_extra`, read without calling a property
                extra = getattr(delta, "__pydantic_extra__", None)
                if extra is None:  # not a pydantic v2 model: anything shaped like one
                    extra = getattr(delta, "model_extra", None)
                if extra or not isinstance(extra, dict):  # {}: the SDK's delta, no extras
                    self._extras(delta, extra)
                if getattr(delta, "tool_calls", None):
                    self._take_tool_calls(delta)
            self.finish_reason = getattr(choice, "finish_reason", None) or self.finish_reason
        if not added:
            return ""
        length = self.length + len(added)
        if length > MAX_ANSWER_CHARACTERS:
            raise OversizedAnswer(length)
        self.content_chunks += 1
        self.length = length
        if self.reasoning_chunks and self._thinking.pending:  # the reasoning has ended
            self._release_thoughts()
        shown = self._answer.feed(added)
        if shown:
            self.pieces.append(shown)
            self.text_length += len(shown)
            self.shown += 1
        return shown

    def take_completion(self, body: Mapping[str, Any]) -> bool:
        """Take a whole non-streamed chat completion (a server that ignored `stream: true`);
        False if `body` is not one."""
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
            return False
        message = choices[0].get("message")
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, str):
            return False
        envelope = {"id": body.get("id"), "model": body.get("model"), "usage": body.get("usage")}
        reason = choices[0].get("finish_reason")
        delta = {"content": content}
        self.handle_chunk(_Wire({**envelope, "choices": [_Wire(
            {"delta": _Wire(delta), "finish_reason": reason if isinstance(reason, str) else None}
        )]}))  # fmt: skip
        return True

    def _extras(self, delta: Any, extra: Any) -> None:
        """What OpenRouter adds to a delta (`extra`: the SDK's `model_extra`, or None for a
        delta read by attribute): reasoning, citations, and a reasoning model's
        `reasoning_details` (kept to pass back unchanged in the next round)."""
        details = extra.get("reasoning_details") if isinstance(extra, dict) else None
        if isinstance(extra, dict):
            delta = _Wire(extra)
        else:
            details = getattr(delta, "reasoning_details", None)
        if isinstance(details, list):
            self.reasoning_details += [d for d in details if isinstance(d, dict)]
        thought = getattr(delta, "reasoning", None)
        if isinstance(thought, str) and thought:
            self.reasoning_chunks += 1
            self.add_thought(self._thinking.feed(thought))
        for note in getattr(delta, "annotations", None) or ():
            citation = read_citation(note)
            if citation is not None and self.secrets:
                citation = Citation(
                    redact_answer(citation.url, self.secrets),
                    redact_answer(citation.title, self.secrets),
                )
            if citation is not None and citation not in self.citations:
                self.citations.append(citation)

    def _take_tool_calls(self, delta: Any) -> None:
        """`delta.tool_calls`: each call's id and function name come first, then its
        arguments in pieces, by index (parallel calls interleave)."""
        for piece in getattr(delta, "tool_calls", None) or ():
            index = _field(piece, "index")
            index = index if isinstance(index, int) and not isinstance(index, bool) else 0
            if index not in self.tool_drafts and len(self.tool_drafts) >= MAX_TOOL_CALLS:
                raise OversizedAnswer(self.length + self.tool_length)
            draft = self.tool_drafts.setdefault(index, ["", "", ""])
            function = _field(piece, "function")
            for slot, value in enumerate(
                (_field(piece, "id"), _field(function, "name"), _field(function, "arguments"))
            ):
                if isinstance(value, str) and value:
                    draft[slot] = value if slot < 2 else draft[slot] + value
                    self.tool_length += len(value) if slot == 2 else 0
            if self.length + self.tool_length > MAX_ANSWER_CHARACTERS:
                raise OversizedAnswer(self.length + self.tool_length)
            self.tool_chunks += 1

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The function calls asked for, in index order (secrets redacted)."""
        calls = []
        for index in sorted(self.tool_drafts):
            call_id, name, arguments = self.tool_drafts[index]
            if self.secrets:
                name, arguments = (redact_answer(t, self.secrets) for t in (name, arguments))
            calls.append(ToolCall(call_id or f"call_{index}", name, arguments))
        return tuple(calls)

    @property
    def reasoning(self) -> str:
        if len(self.thoughts) > 1:
            self.thoughts[:] = ["".join(self.thoughts)]
        return self.thoughts[0] if self.thoughts else ""

    @property
    def text(self) -> str:
        """The whole answer so far (joined on demand: a view reads `text_since`)."""
        if len(self.pieces) > 1:
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0] if self.pieces else ""

    def text_since(self, mark: int) -> str:
        """The answer's text from character `mark` on (a view's `text_length` when it last
        read), in time proportional to that text, not to the answer."""
        return _last(self.pieces, self.text_length - mark)

    def reasoning_since(self, mark: int) -> str:
        """The reasoning from character `mark` on, like `text_since`."""
        return _last(self.thoughts, self.reasoning_length - mark)


def _last(pieces: list[str], count: int) -> str:
    """The last `count` characters of the joined `pieces`, reading only the pieces needed."""
    if count <= 0:
        return ""
    taken: list[str] = []
    for piece in reversed(pieces):
        if len(piece) >= count:
            taken.append(piece[len(piece) - count :])
            break
        taken.append(piece)
        count -= len(piece)
    return "".join(reversed(taken))


class _Wire:
    """A JSON object read by attribute, as `handle_chunk` reads the SDK's chunks."""

    def __init__(self, fields: Mapping[str, Any]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> Any:
        value = self._fields.get(name)
        return str(value) if name in ("id", "model") and value is not None else value


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, Mapping) else getattr(obj, name, None)


def offers_functions(request: Mapping[str, Any]) -> bool:
    """Whether a request offers the model function tools (a server tool is not one)."""
    body = request.get("extra_body")
    tools = [*(request.get("tools") or ()), *((body or {}).get("tools") or ())]
    return any(isinstance(tool, Mapping) and tool.get("type") == "function" for tool in tools)


def ended_early(state: StreamState, *, functions: bool = False) -> tuple[Outcome, str] | None:
    """How a stream that ended without an error is not a whole answer, if it is not:
    (outcome, one line). No finish reason: the connection was closed early (incomplete);
    `length`: the answer hit max_tokens (a whole reply, but cut). `tool_calls` is never a
    finished answer: a round of a tool loop when `functions` were offered and calls came,
    else incomplete."""
    if state.finish_reason is None:
        return (
            "incomplete",
            "incomplete answer: the stream ended before the model finished (no finish "
            "reason, no usage): the server or a proxy closed the connection early; the "
            "partial text is kept (not cached); re-run the cell",
        )
    if functions and state.tool_drafts:
        return None  # a round of a tool loop: its calls are what it says
    if state.finish_reason == "tool_calls" or state.tool_drafts:
        names = ", ".join(sorted({call.name for call in state.tool_calls}))
        why = (
            f"functions ({names}) that were not offered (offer some with --tools)"
            if names
            else "a function but sent no call"
        )
        return (
            "incomplete",
            f"the model stopped to call {why}: the reply is not an answer and is not cached",
        )
    if state.finish_reason == "length":
        return (
            "ok",
            'the answer hit max_tokens and is cut off (finish_reason "length"); raise '
            "--max-tokens for a longer one",
        )
    return None


def read_citation(note: Any) -> Citation | None:
    """A `url_citation` annotation (dict or SDK model) → a Citation; anything else None."""

    def get(obj: Any, name: str) -> Any:
        return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)

    if get(note, "type") != "url_citation":
        return None
    inner = get(note, "url_citation") or note
    url, title = get(inner, "url"), get(inner, "title")
    if not isinstance(url, str) or not url:
        return None
    return Citation(url=url, title=title if isinstance(title, str) else "")
