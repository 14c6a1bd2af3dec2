"""`%%gpt4o`: thin glue between IPython and the session. Parses, hands off, shows.

Cells run by awaiting: an input transformer turns a `%%gpt4o` cell into a top-level
`await`, so IPython runs it on the kernel's event loop, and a Stop click (a comm message)
reaches the kernel while the answer streams. Called the classic way (`run_cell_magic`),
the same coroutine runs to completion on a private loop.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import threading
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ._config import OrJupyter, SecretStr
from ._domain import DETAILS, Detail, ImagePart, Reply
from ._panel import Panel, TextView, View
from ._prompt import PromptError, build_parts, parse_template
from ._request import CallOptions
from ._session import Session

MAGIC_NAME = "gpt4o"
SUBCOMMANDS = ("help", "key", "usage")


def _temperature(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 2.0:
        raise ValueError
    return value


def _positive_int(text: str) -> int:
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


@magics_class
class OrJupyterMagics(Magics):
    """The `%%gpt4o` cell magic and `%gpt4o` commands."""

    def __init__(self, shell: Any, session: Session) -> None:
        super().__init__(shell)
        self.session = session
        self.transformer: Callable[[list[str]], list[str]] | None = None

    @property
    def user_ns(self) -> dict[str, Any]:
        shell: Any = self.shell
        namespace: dict[str, Any] = shell.user_ns
        return namespace

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME", help="store the reply in this variable")
    @argument("-m", "--model", metavar="SLUG", help="OpenRouter model (default: GPT-4o)")
    @argument("--system", metavar="TEXT", help="system prompt")
    @argument("--temperature", type=_temperature, metavar="T", help="sampling temperature, 0 to 2")
    @argument("--max-tokens", type=_positive_int, metavar="N", help="longest answer, in tokens")
    @argument("--detail", choices=DETAILS, default="auto", help="image detail: auto, low or high")
    @argument("command", nargs="*", help="line magic only: help | key | usage")
    @line_cell_magic
    def gpt4o(self, line: str, cell: str | None = None) -> None:
        """Ask an OpenRouter model (GPT-4o by default) about the cell, streamed live.

        In the cell, `{name}` puts a notebook variable in place: a PIL image travels as
        an image, anything else as text; `{{` and `}}` are literal braces. The answer
        streams into a panel with its token usage and cost, and stays in the notebook.

        Line commands: `%gpt4o help`, `%gpt4o key` (enter the API key for this session,
        never echoed or saved), `%gpt4o usage` (this notebook's running totals).
        """
        if cell is None:
            self._command(line)
        else:
            run_sync(self.ask(line, cell))

    def _command(self, line: str) -> None:
        words = line.split()
        if not words or words[0] == "help":
            print(self.gpt4o.__doc__)
            print(self.gpt4o.parser.format_help())
            return
        if words[0] == "key":
            return self._read_key()
        if words[0] == "usage":
            from . import usage

            print(usage())
            return
        raise UsageError(
            f"unknown command {words[0]!r}: use %gpt4o help, %gpt4o key or %gpt4o usage; "
            "to ask a question, use the cell magic %%gpt4o"
        )

    def _read_key(self) -> None:
        import getpass

        key = getpass.getpass("OpenRouter API key (not echoed, not saved): ").strip()
        if not key:
            raise UsageError("no key entered; the previous key (if any) is kept")
        self.session.settings.api_key = SecretStr(key)
        print("Key set for this session.")

    async def ask(self, line: str, cell: str) -> Reply | None:
        args = parse_options(self.gpt4o, line)
        if args.command:
            raise UsageError(
                f"unexpected {' '.join(args.command)!r} after %%gpt4o: options start with "
                "- or --; see %gpt4o help"
            )
        options = CallOptions(
            model=args.model or self.session.settings.default_model,
            system=args.system,
            temperature=args.temperature,
            max_tokens=args.max_tokens,
        )
        parts = self._parts(cell, args.detail, options.model)
        self.session.client_spec()  # no key: say so before anything is shown or sent
        reply = await self.session.ask(parts, options, self._view(options.model))
        if args.output:
            self.user_ns[args.output] = reply
        if reply.outcome == "error":
            raise UsageError(reply.error or "the call failed")
        return None

    def _parts(self, cell: str, detail: Detail, model: str) -> list[Any]:
        try:
            segments = parse_template(cell)
            parts = build_parts(segments, self.user_ns, _image_maker(model), detail)
        except PromptError as exc:
            raise UsageError(f"{exc} (nothing was sent)") from None
        if not parts:
            raise UsageError("the cell is empty: write your question below %%gpt4o")
        return parts

    def _view(self, model: str) -> View:
        settings = self.session.settings
        if settings.widgets and getattr(self.shell, "kernel", None) is not None:
            return Panel(model, settings.updates_per_second)
        return TextView(model)


_TEXT_TYPES = (str, int, float, complex, bool, type(None), list, tuple, dict, set)
_IMAGE_MODULES = ("PIL.", "matplotlib.", "numpy")


def _could_be_image(value: object) -> bool:
    """Cheap pre-check so plain values never import Pillow."""
    if isinstance(value, _TEXT_TYPES):
        return False
    if isinstance(value, (bytes, bytearray, Path)):
        return True
    return type(value).__module__.startswith(_IMAGE_MODULES)


def _image_maker(model: str) -> Callable[[object, Detail], ImagePart | None]:
    def make(value: object, detail: Detail) -> ImagePart | None:
        if not _could_be_image(value):
            return None
        from ._images import ImageError, limits_for, prepare_image, to_image

        try:
            image = to_image(value)
            return None if image is None else prepare_image(image, detail, limits_for(model))
        except ImageError as exc:
            raise PromptError(str(exc)) from None

    return make


def run_sync(coroutine: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine from synchronous code, whether or not a loop is running here."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["value"] = asyncio.run(coroutine)
        except BaseException as exc:  # handed back to the caller's thread below
            outcome["error"] = exc

    worker = threading.Thread(target=target, name="orjupyter-call", daemon=True)
    worker.start()
    worker.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome.get("value")


def awaiting_transformer(magics: OrJupyterMagics) -> Callable[[list[str]], list[str]]:
    """Rewrite `%%gpt4o …` cells into a top-level await of the same call."""
    prefix = f"%%{MAGIC_NAME}"

    def transform(lines: list[str]) -> list[str]:
        if not lines or not lines[0].startswith(prefix):
            return lines
        first = lines[0].rstrip("\r\n")
        rest = first[len(prefix) :]
        if (rest and not rest[0].isspace()) or first.rstrip().endswith("?"):
            return lines  # another magic (%%gpt4o_x) or help (%%gpt4o?)
        if not getattr(magics.shell, "autoawait", False):
            return lines
        line, cell = rest.strip(), "".join(lines[1:])
        call = f"__import__('orjupyter._magic').{_ENTRY}({line!r}, {cell!r})"
        return [f"await {call}\n"]

    return transform


_ENTRY = "_magic.run_cell"


async def run_cell(line: str, cell: str) -> None:
    """What a transformed `%%gpt4o` cell awaits."""
    from IPython import get_ipython

    shell = get_ipython()
    magics = shell.magics_manager.registry.get("OrJupyterMagics")
    if magics is None:
        raise UsageError("orjupyter is not loaded: run %load_ext orjupyter")
    expanded = shell.var_expand(line, depth=1)
    try:
        await magics.ask(expanded, cell)
    except UsageError:
        raise
    except KeyboardInterrupt:
        print("Stopped.", file=sys.stderr)


def register(shell: Any, settings: OrJupyter) -> OrJupyterMagics:
    magics = OrJupyterMagics(shell, Session(settings))
    shell.register_magics(magics)
    transformer = awaiting_transformer(magics)
    shell.input_transformers_cleanup.append(transformer)
    magics.transformer = transformer
    return magics


def unregister(shell: Any) -> None:
    magics = shell.magics_manager.registry.pop("OrJupyterMagics", None)
    if magics is None:
        return
    transformer = getattr(magics, "transformer", None)
    if transformer in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(transformer)
    for kind in ("line", "cell"):
        shell.magics_manager.magics[kind].pop(MAGIC_NAME, None)
