"""A `%%gpt4o` question from its cell to its answer: the options parsed, the parts read,
the context chosen, and the call handed to the session. Imported on the first call, not
with the extension."""

from __future__ import annotations

import asyncio
from functools import partial
from typing import TYPE_CHECKING

from orjupyter.core.context import Context, ImageMaker, select_context, with_context
from orjupyter.core.domain import Detail, ImagePart, Part
from orjupyter.core.errors import PromptError
from orjupyter.core.prompt import build_parts, parse_template
from orjupyter.core.question import Question
from orjupyter.jupyter.bills import settled_into
from orjupyter.jupyter.call_options import call_options, refuse_map_only, schema_named
from orjupyter.jupyter.delivery import deliver, in_background
from orjupyter.jupyter.grammar import parse_options
from orjupyter.jupyter.views import answer_view
from orjupyter.service.structured import ask_structured

if TYPE_CHECKING:
    from orjupyter.jupyter.magic import OrJupyterMagics


async def ask(
    magics: OrJupyterMagics, line: str, cell: str, default_model: str | None = None
) -> None:
    """Ask the cell's question with the options of `line`, and show and store the answer."""
    args = parse_options(line)
    if args.map is not None:
        from orjupyter.jupyter.mapcell import run_map

        await run_map(magics, args, cell, default_model)
        return
    refuse_map_only(args)
    schema = schema_named(args.schema, magics.user_ns)
    model = args.model or default_model or magics.settings.default_model
    notebook = magics.notebook().key
    options, fmt = call_options(args, model, schema, notebook)
    notes: list[str] = []
    parts = await _parts(magics, cell, args.detail, model, notes)
    context = await asyncio.to_thread(_context, magics, args.context, args.detail, model)
    question = Question(
        parts=with_context(context, parts),
        context=context.parts,
        note=" · ".join(note for note in (context.note, *notes) if note),
        options=options,
        fmt=fmt,
        thread=args.thread,
        new_thread=args.new,
        use_cache=not args.no_cache,
        cell=magics._cell_label(),
        notebook=notebook,
        schema=schema,
    )
    if args.tools is not None:
        from orjupyter.jupyter.toolcell import ask_with_tools

        return await ask_with_tools(magics, question, args, schema)
    if args.compare:
        from orjupyter.jupyter.compare import compare

        return await compare(magics, question, args)
    if args.dry_run:
        await magics.session.dry_run(question)
        return
    if args.bg:
        in_background(magics, question, args.output, schema)
        return
    settled = settled_into(magics.user_ns, args.output)
    view_for = partial(answer_view, magics)
    reply = await ask_structured(magics.session, question, view_for, settled, args.retries)
    deliver(magics, reply, fmt, args.output, schema)


async def _parts(
    magics: OrJupyterMagics, cell: str, detail: Detail, model: str, notes: list[str]
) -> list[Part]:
    """The cell's message parts. The placeholders' values are read in a worker thread
    (a slow `__str__` or a big figure is the user's code): the kernel's loop stays free,
    so an interrupt or a Stop ends the cell at once."""

    try:
        segments = parse_template(cell)
        parts = await asyncio.to_thread(
            build_parts,
            segments,
            magics.user_ns,
            _images_for(model),
            detail,
            force_image=_images_for(model, forced=True),
            value_tokens=magics.settings.value_tokens,
            notes=notes,
        )
    except PromptError as exc:
        raise PromptError(f"{exc} (nothing was sent)") from None
    if not parts:
        raise PromptError("the cell is empty: write your question below %%gpt4o")
    return parts


def _context(
    magics: OrJupyterMagics, asked: int | str | None, detail: Detail, model: str
) -> Context:
    """The cells run before this one: `--context`, else `OrJupyter.context`."""
    wanted = magics.settings.context if asked is None else asked
    return select_context(
        magics.recorder.cells(),
        None if wanted == "all" else int(wanted),
        budget_tokens=magics.settings.context_tokens,
        make_image=_images_for(model),
        detail=detail,
        explicit=asked is not None,
    )


def _images_for(model: str, *, forced: bool = False) -> ImageMaker:
    """`image_maker(model)`, imported when the first value is met that could be an image:
    a question without placeholders (and context without pictures) never needs it."""

    def make(value: object, detail: Detail) -> ImagePart | None:
        from orjupyter.core.image_sources import image_maker

        return image_maker(model, forced=forced)(value, detail)

    return make
