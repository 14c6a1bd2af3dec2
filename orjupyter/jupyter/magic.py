"""`%%gpt4o`: thin glue between IPython and the session. Parses, hands off, shows."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.utils.text import DollarFormatter

from orjupyter.core.context import Context, select_context, with_context
from orjupyter.core.domain import Detail, Part, Reply
from orjupyter.core.errors import OptionError, PromptError
from orjupyter.core.image_sources import image_maker
from orjupyter.core.notebook_id import NotebookId, notebook_identity
from orjupyter.core.prompt import build_parts, parse_template
from orjupyter.core.question import Question
from orjupyter.jupyter.bills import settled_into
from orjupyter.jupyter.call_options import call_options, refuse_map_only, schema_named
from orjupyter.jupyter.commands import ABOUT, command_in, help_text, run_command
from orjupyter.jupyter.config import OrJupyter
from orjupyter.jupyter.context import Recorder, cell_namer
from orjupyter.jupyter.delivery import deliver, in_background
from orjupyter.jupyter.door import speaking_plainly
from orjupyter.jupyter.execution import (
    MAGIC_NAME,
    awaiting_transformer,
    question_transformer,
    run_sync,
)
from orjupyter.jupyter.grammar import parse_options, split_question
from orjupyter.jupyter.views import answer_view
from orjupyter.service.session import Session
from orjupyter.service.structured import ask_structured

if TYPE_CHECKING:
    from orjupyter.jupyter.notebook_panel import NotebookPanel


@magics_class
class OrJupyterMagics(Magics):
    """The `%%gpt4o` cell magic, its aliases, and the `%gpt4o` commands."""

    def __init__(self, shell: Any, settings: OrJupyter) -> None:
        super().__init__(shell)
        self.settings = settings
        self.session = Session(settings)
        self.transformers: list[Callable[[list[str]], list[str]]] = []
        self.aliases: dict[str, str] = {}
        self.notebook_panel: NotebookPanel | None = None
        started = datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S")
        self.terminal_session = f"{started}-{os.getpid()}"
        self.recorder = Recorder(shell)

    @property
    def user_ns(self) -> dict[str, Any]:
        shell: Any = self.shell
        namespace: dict[str, Any] = shell.user_ns
        return namespace

    @line_cell_magic
    @no_var_expand
    def gpt4o(self, line: str, cell: str | None = None) -> None:
        self.recorder.exclude_current()
        with speaking_plainly():
            self._run(line, cell)

    def _run(self, line: str, cell: str | None, model: str | None = None) -> None:
        """A cell; else a command, when the whole line is one; else a one-line question,
        sent exactly as typed."""
        if cell is None:
            command = command_in(line, self.expanded)
            if command is not None:
                run_command(self, command)
                return
            line, cell = split_question(line)
        self._sync(self.ask(self.expanded(line), cell, default_model=model))

    def expanded(self, text: str) -> str:
        """`$name` and `{name}` in the options, as IPython expands a magic's line. The
        question of a one-liner is not expanded here: its `{df}` is described, its
        `{img}` sent as an image, like a cell's."""
        try:
            return str(DollarFormatter().vformat(text, args=[], kwargs=self.user_ns))
        except Exception:  # IPython leaves what it cannot expand as it is
            return text

    def _sync(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a call to its end from a blocking cell, closing the connections it made."""
        return run_sync(coroutine, on_exit=self.session.clients.close_current)

    def add_alias(self, name: str, model: str, *, force: bool = False) -> None:
        """Register `%%name` (and `%name`) for another model. An existing magic (`%time`,
        `%%bash`, `%%gpt4o` itself) is replaced only with `force`; an alias of ours may be
        pointed at another model."""
        if not name.isidentifier():
            raise OptionError(f"{name!r} cannot be a magic name: use letters, digits and _")
        shell: Any = self.shell
        taken = any(name in shell.magics_manager.magics[kind] for kind in ("line", "cell"))
        if taken and not force and (name == MAGIC_NAME or name not in self.aliases):
            raise OptionError(
                f"%{name} is already a magic; choose another name, or replace it with "
                f"`%gpt4o alias {name} {model} --force`"
            )

        @no_var_expand
        def magic(line: str, cell: str | None = None) -> None:
            self.recorder.exclude_current()
            with speaking_plainly():
                self._run(line, cell, model)

        magic.__doc__ = f"Ask {model} (an alias of %%gpt4o; same options)."
        shell.register_magic_function(magic, magic_kind="line_cell", magic_name=name)
        self.aliases[name] = model

    async def ask(self, line: str, cell: str, default_model: str | None = None) -> None:
        self.recorder.exclude_current()  # a question is never context for the next one
        args = parse_options(line)
        if args.map is not None:
            from orjupyter.jupyter.mapcell import run_map

            await run_map(self, args, cell, default_model)
            return
        refuse_map_only(args)
        schema = schema_named(args.schema, self.user_ns)
        model = args.model or default_model or self.settings.default_model
        notebook = self.notebook().key
        options, fmt = call_options(args, model, schema, notebook)
        notes: list[str] = []
        parts = await self._parts(cell, args.detail, model, notes)
        context = await asyncio.to_thread(self._context, args.context, args.detail, model)
        question = Question(
            parts=with_context(context, parts),
            context=context.parts,
            note=" · ".join(note for note in (context.note, *notes) if note),
            options=options,
            fmt=fmt,
            thread=args.thread,
            new_thread=args.new,
            use_cache=not args.no_cache,
            cell=self._cell_label(),
            notebook=notebook,
            schema=schema,
        )
        if args.tools is not None:
            from orjupyter.jupyter.toolcell import ask_with_tools

            return await ask_with_tools(self, question, args, schema)
        if args.compare:
            from orjupyter.jupyter.compare import compare

            return await compare(self, question, args)
        if args.dry_run:
            await self.session.dry_run(question)
            return
        if args.bg:
            in_background(self, question, args.output, schema)
            return
        settled = settled_into(self.user_ns, args.output)
        view_for = partial(answer_view, self)
        reply = await ask_structured(self.session, question, view_for, settled, args.retries)
        deliver(self, reply, fmt, args.output, schema)

    def notebook(self) -> NotebookId:
        """Whose calls these are: the notebook's, else (terminal IPython) the script's or
        this session's."""
        in_terminal = getattr(self.shell, "kernel", None) is None
        session = self.terminal_session if in_terminal else None
        return notebook_identity(self.user_ns, os.environ, Path.cwd(), session)

    def _cell_label(self) -> str:
        """`[n]` as the frontend shows it (IPython counts the running cell already)."""
        count = getattr(self.shell, "execution_count", None)
        return f"[{count - 1}]" if isinstance(count, int) and count > 1 else "[?]"

    async def _parts(self, cell: str, detail: Detail, model: str, notes: list[str]) -> list[Part]:
        """The cell's message parts. The placeholders' values are read in a worker thread
        (a slow `__str__` or a big figure is the user's code): the kernel's loop stays free,
        so an interrupt or a Stop ends the cell at once."""

        try:
            segments = parse_template(cell)
            parts = await asyncio.to_thread(
                build_parts,
                segments,
                self.user_ns,
                image_maker(model),
                detail,
                force_image=image_maker(model, forced=True),
                value_tokens=self.settings.value_tokens,
                notes=notes,
            )
        except PromptError as exc:
            raise PromptError(f"{exc} (nothing was sent)") from None
        if not parts:
            raise PromptError("the cell is empty: write your question below %%gpt4o")
        return parts

    def _context(self, asked: int | str | None, detail: Detail, model: str) -> Context:
        """The cells run before this one: `--context`, else `OrJupyter.context`."""
        wanted = self.settings.context if asked is None else asked
        return select_context(
            self.recorder.cells(),
            None if wanted == "all" else int(wanted),
            budget_tokens=self.settings.context_tokens,
            make_image=image_maker(model),
            detail=detail,
            explicit=asked is not None,
        )


OrJupyterMagics.gpt4o.__doc__ = help_text(ABOUT)  # `%gpt4o?` shows the whole help, once


def _reply_bundle(reply: Reply) -> dict[str, str]:
    from orjupyter.render.report import reply_bundle  # when a Reply is first shown

    return reply_bundle(reply)


def register(shell: Any, settings: OrJupyter) -> OrJupyterMagics:
    magics = OrJupyterMagics(shell, settings)
    shell.register_magics(magics)
    formatter = shell.display_formatter.mimebundle_formatter
    formatter.for_type(Reply, _reply_bundle)
    for name, model in settings.aliases.items():
        try:
            magics.add_alias(name, model)
        except OptionError as exc:  # a configured alias that would shadow a magic
            print(f"orjupyter: alias not added: {exc}", file=sys.stderr)
    magics.transformers = [awaiting_transformer(magics), question_transformer(magics)]
    shell.input_transformers_cleanup.extend(magics.transformers)
    magics.session.errors.cell_name = cell_namer(shell)
    shell.events.register("post_run_cell", magics.session.errors.remember)
    shell.events.register("pre_run_cell", magics.session.background.on_cell)
    shell.user_ns["Err"] = magics.session.errors.tracebacks
    magics.recorder.install()
    return magics


def unregister(shell: Any) -> None:
    magics = shell.magics_manager.registry.pop("OrJupyterMagics", None)
    if magics is None:
        return
    shell.display_formatter.mimebundle_formatter.pop(Reply, None)
    for transformer in magics.transformers:
        if transformer in shell.input_transformers_cleanup:
            shell.input_transformers_cleanup.remove(transformer)
    shell.events.unregister("post_run_cell", magics.session.errors.remember)
    shell.events.unregister("pre_run_cell", magics.session.background.on_cell)
    if magics.notebook_panel is not None:
        magics.notebook_panel.close()
    magics.recorder.uninstall()
    magics.session.close()
    if shell.user_ns.get("Err") is magics.session.errors.tracebacks:
        del shell.user_ns["Err"]
    for name in (MAGIC_NAME, *magics.aliases):
        for kind in ("line", "cell"):
            shell.magics_manager.magics[kind].pop(name, None)
