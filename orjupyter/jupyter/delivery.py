"""A finished reply, where the cell asked for it: `-o NAME` (the reply, its parsed or
validated value), code in a new cell, a failure as the cell's error; and `--bg`, where
the reply arrives after the cell has ended."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import Reply
from orjupyter.core.errors import CallFailed, OptionError
from orjupyter.core.formats import OUTPUT_FORMATS, Format, extract_code
from orjupyter.core.question import Question
from orjupyter.jupyter.bills import settled_into
from orjupyter.jupyter.door import speaking_plainly
from orjupyter.jupyter.views import answer_view

if TYPE_CHECKING:
    from orjupyter.core.schema import Schema
    from orjupyter.jupyter.magic import OrJupyterMagics


def in_background(
    magics: OrJupyterMagics, question: Question, output: str | None, schema: Schema | None = None
) -> None:
    """`--bg`: the view shows in this cell now; the answer streams on the background loop
    and is delivered to `-o NAME`, which holds a pending reply until then."""
    from orjupyter.service.background import PendingReply

    if OUTPUT_FORMATS[question.fmt].next_cell:
        raise OptionError(f"--bg cannot put code in a new cell; drop --bg or -f {question.fmt}")
    if not magics.settings.replaying():
        magics.session.client_spec()  # no key: say so now, in this cell
    view = answer_view(magics, question.options.model, question, background=True)
    view.show()  # in this cell, now: the answer arrives after the cell has ended

    async def answer() -> Reply:
        try:
            reply = await magics.session.ask(question, view, settled_into(magics.user_ns, output))
        finally:
            magics.session.background.finished(view.republish)
        with speaking_plainly():  # `NAME.wait()` shows a failure as one line
            if output and isinstance(magics.user_ns.get(output), PendingReply):
                deliver(magics, reply, question.fmt, output, schema)
            elif reply.outcome in ("error", "invalid"):
                raise CallFailed(reply.error or "the call failed")
        return reply

    future = magics.session.background.submit(answer())
    if output:
        magics.user_ns[output] = PendingReply(future, output, magics.session.background.flush)


def deliver(
    magics: OrJupyterMagics,
    reply: Reply,
    fmt: Format,
    output: str | None,
    schema: Schema | None = None,
) -> None:
    """Store the reply, hand code to a new cell, and fail the cell if the call failed."""
    if output:
        magics.user_ns[output] = reply
    if reply.outcome in ("error", "invalid"):
        raise CallFailed(reply.error or "the call failed")
    if OUTPUT_FORMATS[fmt].next_cell and reply.outcome == "ok":
        shell: Any = magics.shell
        shell.set_next_input(extract_code(reply.text), replace=False)
    if schema is not None and reply.outcome == "ok":
        from orjupyter.core.schema import validated

        value = validated(schema, reply.text)
        if output:
            magics.user_ns[output] = value
    elif (parse := OUTPUT_FORMATS[fmt].parse) and output:
        magics.user_ns[output] = parse(reply.text)
