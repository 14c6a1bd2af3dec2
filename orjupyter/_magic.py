"""`%%gpt4o`: thin glue between IPython and the session. Parses, hands off, shows."""

from __future__ import annotations

import os
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from ._config import OrJupyter, SecretStr
from ._domain import DETAILS, Detail, Reply
from ._execution import MAGIC_NAME, awaiting_transformer, run_sync
from ._formats import (
    FORMATS,
    Format,
    FormatError,
    extract_code,
    parse_json,
    response_format,
    system_prompt,
)
from ._notebook_id import NotebookId, notebook_identity
from ._options import (
    fallbacks,
    is_command,
    parse_options,
    positive_int,
    provider,
    split_question,
    temperature,
)
from ._panel import Panel, TextView, View
from ._prompt import PromptError, build_parts, parse_template
from ._request import CallOptions
from ._session import Question, Session
from ._values import image_maker


@magics_class
class OrJupyterMagics(Magics):
    """The `%%gpt4o` cell magic, its aliases, and the `%gpt4o` commands."""

    def __init__(self, shell: Any, session: Session) -> None:
        super().__init__(shell)
        self.session = session
        self.transformer: Callable[[list[str]], list[str]] | None = None
        self.aliases: dict[str, str] = {}

    @property
    def user_ns(self) -> dict[str, Any]:
        shell: Any = self.shell
        namespace: dict[str, Any] = shell.user_ns
        return namespace

    @magic_arguments()
    @argument("-o", "--output", metavar="NAME", help="store the reply in this variable")
    @argument("-m", "--model", metavar="SLUG", help="OpenRouter model (default: GPT-4o)")
    @argument("--system", metavar="TEXT", help="system prompt")
    @argument("--temperature", type=temperature, metavar="T", help="sampling temperature, 0 to 2")
    @argument("--max-tokens", type=positive_int, metavar="N", help="longest answer, in tokens")
    @argument("--detail", choices=DETAILS, default="auto", help="image detail: auto, low or high")
    @argument(
        "-f",
        "--format",
        choices=FORMATS,
        default="markdown",
        help="markdown (default), text, code (answer goes into a new cell below), "
        "json (-o stores the parsed value) or html",
    )
    @argument("--thread", metavar="NAME", help="start or continue a named conversation")
    @argument("--new", action="store_true", help="start the --thread afresh")
    @argument("--no-cache", action="store_true", help="call the model even if cached")
    @argument("--dry-run", action="store_true", help="show what would be sent and its cost")
    @argument(
        "--bg",
        action="store_true",
        help="answer in the background: the cell returns at once; -o NAME holds a pending "
        "reply (NAME.wait() waits)",
    )
    @argument("--models", type=fallbacks, metavar="A,B", help="OpenRouter fallback models")
    @argument("--provider", type=provider, metavar="JSON", help="OpenRouter provider preferences")
    @argument("command", nargs="*", help="line magic: a question, or a command (see below)")
    @line_cell_magic
    def gpt4o(self, line: str, cell: str | None = None) -> None:
        """Ask an OpenRouter model (GPT-4o by default) about the cell, streamed live.

        In the cell, `{name}` puts a notebook variable in place: an image (PIL image,
        matplotlib figure, array, image file path or bytes) travels as an image,
        anything else as text; `{In[3]}`, `{Out[5]}`, `{Err[7]}` (the traceback of a
        failed cell) and `{_}` work; `{{` and `}}` are literal braces. The answer
        streams into a panel with its token usage and cost, and stays in the notebook.

        Line magic: `%gpt4o QUESTION` asks a one-line question. Commands:
        `%gpt4o help`, `%gpt4o key` (enter the API key for this session, never echoed
        or saved), `%gpt4o usage` (this notebook's running totals), `%gpt4o reset
        [THREAD]`, `%gpt4o alias NAME SLUG` (a new `%%NAME` magic for another model).
        """
        if cell is not None:
            self._sync(self.ask(line, cell))
        elif is_command(line):
            self._command(line)
        else:
            self._sync(self.ask(*split_question(line)))

    def _sync(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a call to its end from a blocking cell, closing the connections it made."""
        return run_sync(coroutine, on_exit=self.session.clients.close_current)

    def _command(self, line: str) -> None:
        words = line.split()
        name = words[0] if words else "help"
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            raise UsageError(f"unknown command {name!r}: see %gpt4o help")
        handler(words[1:])

    def _cmd_help(self, _words: list[str]) -> None:
        print(self.gpt4o.__doc__)
        print(self.gpt4o.parser.format_help())

    def _cmd_key(self, _words: list[str]) -> None:
        import getpass

        key = getpass.getpass("OpenRouter API key (not echoed, not saved): ").strip()
        if not key:
            raise UsageError("no key entered; the previous key (if any) is kept")
        self.session.settings.api_key = SecretStr(key)
        print("Key set for this session.")

    def _cmd_usage(self, words: list[str]) -> None:
        """`%gpt4o usage [--all] [--csv FILE] [--frame NAME] [--rename OLD]`."""
        from . import _account

        _account.usage(self, words)

    def _cmd_budget(self, words: list[str]) -> None:
        """`%gpt4o budget [AMOUNT | off]`."""
        from . import _account

        _account.budget(self, words)

    def _cmd_models(self, words: list[str]) -> None:
        """`%gpt4o models [FILTER]`."""
        from . import _account

        self._sync(_account.models(self, words))

    def _cmd_credits(self, _words: list[str]) -> None:
        from . import _account

        self._sync(_account.credits(self))

    def _cmd_reset(self, words: list[str]) -> None:
        self.session.threads.reset(words[0] if words else None)
        print(f"Thread {words[0]!r} reset." if words else "All threads reset.")

    def _cmd_alias(self, words: list[str]) -> None:
        if len(words) != 2:
            raise UsageError(
                "usage: %gpt4o alias NAME SLUG, e.g. %gpt4o alias mini openai/gpt-4o-mini"
            )
        self.add_alias(*words)
        print(f"%%{words[0]} now asks {words[1]}.")

    def add_alias(self, name: str, model: str) -> None:
        """Register `%%name` (and `%name`) for another model."""
        if not name.isidentifier():
            raise UsageError(f"{name!r} cannot be a magic name: use letters, digits and _")

        def magic(line: str, cell: str | None = None) -> None:
            if cell is None and not is_command(line):
                line, cell = split_question(line)
            if cell is None:
                self._command(line)
            else:
                self._sync(self.ask(line, cell, default_model=model))

        magic.__doc__ = f"Ask {model} (an alias of %%gpt4o; same options)."
        shell: Any = self.shell
        shell.register_magic_function(magic, magic_kind="line_cell", magic_name=name)
        self.aliases[name] = model

    async def ask(self, line: str, cell: str, default_model: str | None = None) -> None:
        args = parse_options(self.gpt4o, line)
        if args.command:
            raise UsageError(
                f"unexpected {' '.join(args.command)!r}: options start with - or --; "
                "see %gpt4o help"
            )
        fmt: Format = args.format
        model = args.model or default_model or self.session.settings.default_model
        options = CallOptions(
            model=model,
            system=system_prompt(args.system, fmt),
            temperature=args.temperature,
            max_tokens=args.max_tokens,
            response_format=response_format(fmt),
            fallback_models=args.models or (),
            provider=args.provider,
        )
        question = Question(
            parts=self._parts(cell, args.detail, model),
            options=options,
            fmt=fmt,
            thread=args.thread,
            new_thread=args.new,
            use_cache=not args.no_cache,
            cell=self._cell_label(),
            notebook=self.notebook().key,
        )
        if args.dry_run:
            await self.session.dry_run(question)
            return
        if args.bg:
            self._in_background(question, args.output)
            return
        reply = await self.session.ask(question, self._view(model, question))
        self._deliver(reply, fmt, args.output)

    def _in_background(self, question: Question, output: str | None) -> None:
        from ._background import PendingReply

        if question.fmt == "code":
            raise UsageError("--bg cannot put code in a new cell; drop --bg or -f code")
        if not self.session.settings.replaying():
            self.session.client_spec()  # no key: say so now, in this cell
        view = self._view(question.options.model, question)
        if isinstance(view, Panel):
            view.show()  # in this cell, now: the answer arrives after the cell has ended

        async def answer() -> Reply:
            try:
                reply = await self.session.ask(question, view)
            finally:
                if isinstance(view, Panel):
                    self.session.background.finished(view.republish)
            if output and isinstance(self.user_ns.get(output), PendingReply):
                self._deliver(reply, question.fmt, output)
            elif reply.outcome == "error":
                raise UsageError(reply.error or "the call failed")
            return reply

        future = self.session.background.submit(answer())
        if output:
            self.user_ns[output] = PendingReply(future, output, self.session.background.flush)

    def _deliver(self, reply: Reply, fmt: Format, output: str | None) -> None:
        """Store the reply, hand code to a new cell, and fail the cell if the call failed."""
        if output:
            self.user_ns[output] = reply
        if reply.outcome == "error":
            raise UsageError(reply.error or "the call failed")
        if fmt == "code" and reply.outcome == "ok":
            shell: Any = self.shell
            shell.set_next_input(extract_code(reply.text), replace=False)
        if fmt == "json" and output:
            try:
                self.user_ns[output] = parse_json(reply.text)
            except FormatError as exc:
                raise UsageError(str(exc)) from None

    def notebook(self) -> NotebookId:
        return notebook_identity(self.user_ns, os.environ, Path.cwd())

    def _cell_label(self) -> str:
        """`[n]` as the frontend shows it (IPython counts the running cell already)."""
        count = getattr(self.shell, "execution_count", None)
        return f"[{count - 1}]" if isinstance(count, int) and count > 1 else "[?]"

    def _parts(self, cell: str, detail: Detail, model: str) -> list[Any]:
        try:
            segments = parse_template(cell)
            parts = build_parts(segments, self.user_ns, image_maker(model), detail)
        except PromptError as exc:
            raise UsageError(f"{exc} (nothing was sent)") from None
        if not parts:
            raise UsageError("the cell is empty: write your question below %%gpt4o")
        return parts

    def _view(self, model: str, question: Question | None = None) -> View:
        settings = self.session.settings
        if not settings.widgets or getattr(self.shell, "kernel", None) is None:
            return TextView(model)
        if question is None:
            return Panel(model, settings.updates_per_second)
        from functools import partial

        from ._actions import Conversation

        make_panel = partial(Panel, model, settings.updates_per_second)
        conversation = Conversation(self.session, question, make_panel)
        return make_panel(on_done=conversation.done, after_show=conversation.show)


def register(shell: Any, settings: OrJupyter) -> OrJupyterMagics:
    magics = OrJupyterMagics(shell, Session(settings))
    shell.register_magics(magics)
    for name, model in settings.aliases.items():
        magics.add_alias(name, model)
    transformer = awaiting_transformer(magics)
    shell.input_transformers_cleanup.append(transformer)
    magics.transformer = transformer
    shell.events.register("post_run_cell", magics.session.errors.remember)
    shell.events.register("pre_run_cell", magics.session.background.on_cell)
    shell.user_ns["Err"] = magics.session.errors.tracebacks
    return magics


def unregister(shell: Any) -> None:
    magics = shell.magics_manager.registry.pop("OrJupyterMagics", None)
    if magics is None:
        return
    if magics.transformer in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.remove(magics.transformer)
    shell.events.unregister("post_run_cell", magics.session.errors.remember)
    shell.events.unregister("pre_run_cell", magics.session.background.on_cell)
    magics.session.close()
    if shell.user_ns.get("Err") is magics.session.errors.tracebacks:
        del shell.user_ns["Err"]
    for name in (MAGIC_NAME, *magics.aliases):
        for kind in ("line", "cell"):
            shell.magics_manager.magics[kind].pop(name, None)
