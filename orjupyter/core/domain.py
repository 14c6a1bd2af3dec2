"""The domain's values: message parts, usage, prices and replies.

Pure: no IPython, no ipywidgets, no network. Money is `Decimal`, never float.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Context, Decimal
from typing import Any, Literal

Detail = Literal["auto", "low", "high"]
DETAILS: tuple[Detail, ...] = ("auto", "low", "high")
Outcome = Literal["ok", "error", "stopped", "incomplete", "invalid"]
"""`incomplete`: the stream ended cleanly but early (no finish reason): the text is partial.
`invalid`: a whole answer that is not the `--schema` asked for (its text is kept)."""


@dataclass(frozen=True)
class TextPart:
    """A run of prompt text."""

    text: str
    values: tuple[tuple[str, int], ...] = field(default=(), compare=False, repr=False)
    """The placeholders whose values are in this text (`{big}`, its length in characters),
    so that a prompt refused as too long can say which value made it so."""


@dataclass(frozen=True)
class ImagePart:
    """An image ready to send: a `data:` URL plus what a person wants to know about it."""

    data_url: str
    width: int
    height: int
    media_type: str
    detail: Detail
    source_width: int
    source_height: int

    @property
    def nbytes(self) -> int:
        """Size of the encoded image (not of the base64 text)."""
        payload = self.data_url.partition(",")[2]
        return len(payload) * 3 // 4 - payload[-2:].count("=")

    def summary(self) -> str:
        """One line for logs and dry runs: never the base64 payload."""
        resized = (
            ""
            if (self.width, self.height) == (self.source_width, self.source_height)
            else f" (from {self.source_width}×{self.source_height})"
        )
        return (
            f"image {self.width}×{self.height}{resized} {self.media_type}, "
            f"{self.nbytes / 1024:.0f} KiB, detail={self.detail}"
        )

    def __repr__(self) -> str:
        return f"ImagePart({self.summary()})"


@dataclass(frozen=True)
class FilePart:
    """A PDF ready to send as OpenRouter's `file` part."""

    filename: str
    data_url: str
    pages: int
    nbytes: int

    def summary(self) -> str:
        """One line for logs and dry runs: never the base64 payload."""
        pages = f"{self.pages} page{'' if self.pages == 1 else 's'}"
        return f"PDF {self.filename}, {pages}, {self.nbytes / 1024:.0f} KiB"

    def __repr__(self) -> str:
        return f"FilePart({self.summary()})"


Part = TextPart | ImagePart | FilePart


@dataclass(frozen=True)
class Price:
    """A model's list prices in US dollars per token (as OpenRouter publishes them)."""

    prompt: Decimal
    completion: Decimal
    request: Decimal = Decimal(0)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        return self.prompt * prompt_tokens + self.completion * completion_tokens + self.request


@dataclass(frozen=True)
class Usage:
    """What one call consumed and cost. `cost_is_estimate` is False when OpenRouter billed it."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    cost_is_estimate: bool = False
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def summed_usage(usages: Iterable[Usage]) -> Usage:
    """Several calls' usage added up, exactly: the attempts of a `--schema` re-ask, the
    rounds of a tool loop (a cached one costs nothing; one estimate makes the sum one)."""
    total = Usage()
    for u in usages:
        total = Usage(
            prompt_tokens=total.prompt_tokens + u.prompt_tokens,
            completion_tokens=total.completion_tokens + u.completion_tokens,
            cost=total.cost + u.cost,
            cost_is_estimate=total.cost_is_estimate or u.cost_is_estimate,
            cached_tokens=total.cached_tokens + u.cached_tokens,
            reasoning_tokens=total.reasoning_tokens + u.reasoning_tokens,
        )
    return total


@dataclass(frozen=True)
class Totals:
    """Running totals over many calls, and the notebook's budget when one is set.

    `calls` are the calls sent (billed, or estimated); the answers the cache gave are
    counted apart, in `from_cache`. `cost` is in US dollars; `estimated_calls` of the
    calls have an estimated cost (no billed cost came back). `cached_tokens` and
    `reasoning_tokens` are parts of the prompt and completion tokens, as OpenRouter
    reports them."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    estimated_calls: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    budget: Decimal | None = None
    from_cache: int = 0
    """Answers the cache gave (at $0): not calls."""

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def budget_share(self) -> Decimal | None:
        """The part of the budget spent (0.8 is 80%), or None without a budget."""
        if self.budget is None or self.budget <= 0:
            return None
        return self.cost / self.budget

    def add(self, usage: Usage, *, from_cache: bool = False) -> Totals:
        """These totals and one more call (or, `from_cache`, one more answer from the cache)."""
        return Totals(
            calls=self.calls + (not from_cache),
            from_cache=self.from_cache + from_cache,
            prompt_tokens=self.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self.completion_tokens + usage.completion_tokens,
            cost=self.cost + usage.cost,
            estimated_calls=self.estimated_calls + usage.cost_is_estimate,
            cached_tokens=self.cached_tokens + usage.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + usage.reasoning_tokens,
            budget=self.budget,
        )


_WIDE = Context(prec=100)  # quantizing never runs out of digits
_HUGE = Decimal("1e12")


def format_cost(cost: Decimal, *, estimate: bool = False) -> str:
    """US dollars the way a person reads them: `$0.0002725`, `$0.1235`, `$1.27`. Safe at
    any size: `$1.000e+27`, and `$?` for what is not a number."""
    mark = "~" if estimate else ""
    if not isinstance(cost, Decimal) or not cost.is_finite():
        return f"{mark}$?"
    if abs(cost) >= _HUGE:
        return f"{mark}${cost:.3e}"
    if cost >= 1:
        places = Decimal("0.01")
    elif cost >= Decimal("0.01"):
        places = Decimal("0.0001")
    else:
        places = Decimal("0.0000001")
    text = f"{cost.quantize(places, rounding=ROUND_HALF_UP, context=_WIDE):f}"
    if cost < 1 and "." in text:
        text = text.rstrip("0").rstrip(".")
    return f"{mark}${text}"


WIRE_DIGITS = 64
"""Characters of the longest number read from a server: a real price or bill has ~20."""


def wire_decimal(value: object, *, maximum: Decimal, places: int) -> Decimal | None:
    """A number from a server (JSON number or string) as an exact `Decimal` from 0 to
    `maximum`, rounded to `places` decimals; None for anything else: not a number, not
    finite, out of range, longer than `WIRE_DIGITS` characters, or a non-zero amount below
    one unit of the last place (`1E-999999999`), which only a hostile server sends and
    whose digits, written out, would fill the memory."""
    number = _wire_number(value)
    if number is None or not (0 <= number <= maximum):
        return None
    if not number:
        return Decimal(0)
    if number.adjusted() < -places:
        return None
    rounded = number.quantize(Decimal(1).scaleb(-places), context=_WIDE).normalize(_WIDE)
    whole = rounded == rounded.to_integral_value()  # `1E+3` is written `1000`
    return rounded.quantize(Decimal(1), context=_WIDE) if whole else rounded


def _wire_number(value: object) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    text = str(value).strip()
    if len(text) > WIRE_DIGITS:
        return None
    try:
        number = Decimal(text)
    except ArithmeticError:
        return None
    return number if number.is_finite() else None


def decimal_text(value: Decimal) -> str:
    """A `Decimal` as exact text that never grows with its exponent: plain digits
    (`0.0001`) for any amount of money, scientific notation (`1E-999999999`) past that."""
    if value.is_finite() and -40 <= value.adjusted() <= 40:
        return format(value, "f")
    return str(value)


@dataclass(frozen=True)
class Citation:
    """A web source the answer cites (an OpenRouter `url_citation` annotation)."""

    url: str
    title: str = ""


@dataclass(frozen=True)
class ToolCall:
    """One function call a model asked for: the call's id, the function's name, and its
    arguments as the JSON text the model wrote (data: read, never evaluated)."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class ToolStep:
    """One call of a tool loop, as it went: the call, the round that asked for it (from 1),
    what the model was told (`result`: the function's value as sent; `error`: why the
    function did not run, or what it raised), and that round's billed cost."""

    call: ToolCall
    round: int
    result: str = ""
    error: str | None = None
    round_cost: Decimal = Decimal(0)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class Reply:
    """One answer: its text, which model served it, its generation id and usage."""

    text: str
    model: str
    id: str
    usage: Usage
    outcome: Outcome = "ok"
    finish_reason: str | None = None
    error: str | None = None
    time_to_first_token: float | None = None
    duration: float = 0.0
    provider: str | None = None
    cached: bool = False
    history_turns: int = 0
    attached: str = ""
    """What went with the question beyond its text (`context: 2 cells (1 image)`)."""
    reasoning: str = ""
    """The model's reasoning (`--think`), never part of `text`."""
    citations: tuple[Citation, ...] = ()
    """The web sources the answer cites (`--web`), numbered from 1 in this order."""
    tool_calls: tuple[ToolCall, ...] = ()
    """The functions this reply asks to call (finish reason `tool_calls`): not an answer
    yet, a round of a tool loop."""
    reasoning_details: tuple[dict[str, Any], ...] = ()
    """OpenRouter's `reasoning_details`, passed back unchanged in the next round."""
    steps: tuple[ToolStep, ...] = ()
    """A tool loop's calls, in the order they ran (`--tools`)."""
    rounds: int = 0
    """Requests a tool loop made (0: not a tool loop)."""
    unsent: bool = False
    """Stopped before its request left: no call was made and nothing is billed, so the
    ledger keeps no row of it."""
    extra: dict[str, object] = field(default_factory=dict, compare=False, repr=False)

    def __str__(self) -> str:
        return self.text

    def done(self) -> bool:
        """Always True: a `--bg` cell's pending reply becomes this once complete, and both
        answer `done()`, `wait()` and `await` alike."""
        return True

    def wait(self, timeout: float | None = None) -> Reply:
        return self

    def __await__(self) -> Generator[Any, None, Reply]:
        return self._itself().__await__()

    async def _itself(self) -> Reply:
        return self

    def __repr__(self) -> str:
        preview = self.text if len(self.text) <= 60 else self.text[:57] + "..."
        return (
            f"Reply(model={self.model!r}, id={self.id!r}, outcome={self.outcome!r}, "
            f"tokens={self.usage.prompt_tokens}+{self.usage.completion_tokens}, "
            f"cost={format_cost(self.usage.cost, estimate=self.usage.cost_is_estimate)}, "
            f"text={preview!r})"
        )


UNCANCELLED_PROVIDERS = frozenset({"Google", "Google AI Studio", "Amazon Bedrock"})
"""Providers OpenRouter's streaming docs list as not cancelling upstream when a stream is
closed: a stopped answer may go on being generated, and billed, there."""


def billing_may_continue(reply: Reply) -> bool:
    """True for a stopped answer whose provider does not cancel upstream."""
    return reply.outcome == "stopped" and reply.provider in UNCANCELLED_PROVIDERS


def tokens_per_second(reply: Reply) -> float | None:
    if reply.time_to_first_token is None:
        return None
    generating = reply.duration - reply.time_to_first_token
    if generating <= 0 or reply.usage.completion_tokens <= 1:
        return None
    return (reply.usage.completion_tokens - 1) / generating
