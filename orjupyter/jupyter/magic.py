"""`%%gpt4o`: thin glue between IPython and the session. Parses, hands off, shows.

Loading the extension makes only this class and its hooks: the session, the SDK and the
option grammar are imported by the first call (`asking.py`), or by the kernel's warm-up
meanwhile (`orjupyter._warm_up`)."""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Coroutine
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.magic import Magics, line_cell_magic, magics_class, no_var_expand
from IPython.utils.text import DollarFormatter

from orjupyter.core.errlog import ErrorLog
from orjupyter.core.errors import OptionError
from orjupyter.jupyter.context import Recorder, cell_namer
from orjupyter.jupyter.door import speaking_plainly
from orjupyter.jupyter.transformers import MAGIC_NAME, awaiting_transformer, question_transformer

if TYPE_CHECKING:
    from orjupyter.core.domain import Reply
    from orjupyter.core.notebook_id import NotebookId
    from orjupyter.jupyter.config import OrJupyter
    from orjupyter.jupyter.notebook_panel import NotebookPanel
    from orjupyter.service.session import Session

NO_CALL_RUNNING = threading.Event()
"""Set while no `%%gpt4o` call is on its way (the kernel's warm-up waits for it)."""
NO_CALL_RUNNING.set()
WARMED = threading.Event()
"""Set unless the kernel's warm-up is still importing what the first call needs."""
WARMED.set()
WARM_UP_WAIT = 60.0
"""Seconds at most a call waits for the warm-up's imports before it imports on its own."""


@magics_class
class OrJupyterMagics(Magics):
    """The `%%gpt4o` cell magic, its aliases, and the `%gpt4o` commands."""

    def __init__(self, shell: Any, settings: OrJupyter) -> None:
        super().__init__(shell)
        self.settings = settings
        self.errors = ErrorLog()
        """Fills `Err` after every failed cell, from the start (the session keeps it)."""
        self.transformers: list[Callable[[list[str]], list[str]]] = []
        self.aliases: dict[str, str] = {}
        self.notebook_panel: NotebookPanel | None = None
        started = datetime.now().astimezone().strftime("%Y-%m-%dT%H:%M:%S")
        self.terminal_session = f"{started}-{os.getpid()}"
        self.recorder = Recorder(shell)

    @cached_property
    def session(self) -> Session:
        """The kernel's session, made by the first call (or command) that needs it."""
        from orjupyter.service.session import Session

        return Session(self.settings, errors=self.errors)

    def before_cell(self, *info: object) -> None:
        """IPython's pre_run_cell event: show what background answers finished."""
        if "session" in self.__dict__:
            self.session.background.on_cell(*info)

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
        from orjupyter.jupyter.commands import command_in, run_command
        from orjupyter.jupyter.grammar import split_question

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
        from orjupyter.jupyter.execution import run_sync

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
        NO_CALL_RUNNING.clear()
        try:
            # A call sent while the warm-up still imports waits for it rather than importing
            # beside it: two threads importing at once take longer than one for both.
            WARMED.wait(WARM_UP_WAIT)
            from orjupyter.jupyter.asking import ask

            await ask(self, line, cell, default_model)
        finally:
            NO_CALL_RUNNING.set()

    def notebook(self) -> NotebookId:
        """Whose calls these are: the notebook's, else (terminal IPython) the script's or
        this session's."""
        from orjupyter.core.notebook_id import notebook_identity

        in_terminal = getattr(self.shell, "kernel", None) is None
        session = self.terminal_session if in_terminal else None
        return notebook_identity(self.user_ns, os.environ, Path.cwd(), session)

    def _cell_label(self) -> str:
        """`[n]` as the frontend shows it (IPython counts the running cell already)."""
        count = getattr(self.shell, "execution_count", None)
        return f"[{count - 1}]" if isinstance(count, int) and count > 1 else "[?]"


def _help() -> str:
    from orjupyter.jupyter.commands import ABOUT, help_text

    return help_text(ABOUT)


# `%gpt4o?` shows the whole help, once: IPython asks a `getdoc` before the docstring, and
# the help is built from the option grammar, which the first call imports anyway.
OrJupyterMagics.gpt4o.getdoc = _help  # type: ignore[union-attr]  # a function attribute


def _reply_bundle(reply: Reply) -> dict[str, str]:
    from orjupyter.render.report import reply_bundle  # when a Reply is first shown

    return reply_bundle(reply)


def register(shell: Any, settings: OrJupyter) -> OrJupyterMagics:
    magics = OrJupyterMagics(shell, settings)
    shell.register_magics(magics)
    formatter = shell.display_formatter.mimebundle_formatter
    formatter.for_type_by_name("orjupyter.core.domain", "Reply", _reply_bundle)
    for name, model in settings.aliases.items():
        try:
            magics.add_alias(name, model)
        except OptionError as exc:  # a configured alias that would shadow a magic
            print(f"orjupyter: alias not added: {exc}", file=sys.stderr)
    magics.transformers = [awaiting_transformer(magics), question_transformer(magics)]
    shell.input_transformers_cleanup.extend(magics.transformers)
    magics.errors.cell_name = cell_namer(shell)
    shell.events.register("post_run_cell", magics.errors.remember)
    shell.events.register("pre_run_cell", magics.before_cell)
    shell.user_ns["Err"] = magics.errors.tracebacks
    magics.recorder.install()
    return magics


def unregister(shell: Any) -> None:
    magics = shell.magics_manager.registry.pop("OrJupyterMagics", None)
    if magics is None:
        return
    shell.display_formatter.mimebundle_formatter.pop("orjupyter.core.domain.Reply", None)
    for transformer in magics.transformers:
        if transformer in shell.input_transformers_cleanup:
            shell.input_transformers_cleanup.remove(transformer)
    shell.events.unregister("post_run_cell", magics.errors.remember)
    shell.events.unregister("pre_run_cell", magics.before_cell)
    if magics.notebook_panel is not None:
        magics.notebook_panel.close()
    magics.recorder.uninstall()
    if "session" in magics.__dict__:
        magics.session.close()
    if shell.user_ns.get("Err") is magics.errors.tracebacks:
        del shell.user_ns["Err"]
    for name in (MAGIC_NAME, *magics.aliases):
        for kind in ("line", "cell"):
            shell.magics_manager.magics[kind].pop(name, None)
