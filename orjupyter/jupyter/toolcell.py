"""`%%gpt4o --tools F,G`: the glue between the magic's line and a `ToolLoop`: the
functions named, the live log of calls, and approvals (buttons, y/n/a, or a denial where
no one can be asked)."""

from __future__ import annotations

import html
from argparse import Namespace
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from orjupyter.core.domain import ToolCall, ToolStep, Usage, format_cost
from orjupyter.core.errors import OptionError
from orjupyter.core.image_sources import image_maker
from orjupyter.core.question import Question
from orjupyter.core.terminal import printable
from orjupyter.core.tools import Tool, call_text, tool_for
from orjupyter.jupyter.delivery import deliver
from orjupyter.jupyter.views import answer_view, reads_input, shows_widgets
from orjupyter.render.report import tokens_text
from orjupyter.render.tables import NO_MATHS
from orjupyter.service.call import Stopper
from orjupyter.service.toolloop import DEFAULT_MAX_STEPS, Decision, ToolLoop, said

if TYPE_CHECKING:
    from orjupyter.core.schema import Schema
    from orjupyter.jupyter.magic import OrJupyterMagics

PREVIEW = 80
"""Characters of a result the log shows."""


def toolbox(names: str, namespace: Mapping[str, Any]) -> dict[str, Tool]:
    """`--tools lookup,plot` (or a variable holding a list of functions) → the tools, by
    name; anything that cannot be offered is one line, before anything is sent."""
    tools: dict[str, Tool] = {}
    for name in (part.strip() for part in names.split(",")):
        if not name:
            continue
        if name not in namespace:
            raise OptionError(
                f"--tools {name}: no such function in the notebook (nothing was sent)"
            )
        value = namespace[name]
        functions = list(value) if isinstance(value, (list, tuple)) else [value]
        for function in functions:
            tool = tool_for(function, name)
            if tool.name in tools and tools[tool.name].function is not function:
                raise OptionError(
                    f"--tools: two functions are named {tool.name}; offer one (nothing was sent)"
                )
            tools[tool.name] = tool
    if not tools:
        raise OptionError("--tools needs at least one function name (nothing was sent)")
    return tools


def tools_text(tools: Mapping[str, Tool]) -> str:
    """What `--dry-run` says about the tools offered: each one's schema."""
    import json

    lines = [f"Tools offered ({len(tools)}): they run in this kernel, with your rights."]
    for tool in tools.values():
        lines.append(f"  {tool.name}: {tool.description.splitlines()[0]}")
        lines.append(f"    parameters: {json.dumps(tool.parameters)}")
        if tool.approve:
            lines.append("    each call waits for approval")
    return "\n".join(lines)


async def ask_with_tools(
    magics: OrJupyterMagics, question: Question, args: Namespace, schema: Schema | None
) -> None:
    tools = toolbox(args.tools, magics.user_ns)
    options = replace(question.options, functions=tuple(tool.wire() for tool in tools.values()))
    question = replace(question, options=options)
    if args.dry_run:
        print(tools_text(tools))
        await magics.session.dry_run(question)
        return
    kernel = getattr(magics.shell, "kernel", None)
    events: TextLog | PanelLog = PanelLog(kernel) if shows_widgets(magics) else TextLog(kernel)
    loop = ToolLoop(
        magics.session,
        question,
        tools,
        answer_view(magics, options.model, question),
        events,
        max_steps=args.max_steps or DEFAULT_MAX_STEPS,
        cap=args.budget,
        approve_every=args.approve,
        make_image=image_maker(options.model),
    )
    events.loop = loop
    events.begin()
    reply = await loop.run()
    loop.finish(reply, question.fmt)
    deliver(magics, reply, question.fmt, args.output, schema)


def _result_preview(step: ToolStep) -> str:
    text = step.error if step.error is not None else step.result
    one_line = " ".join(text.split())
    shown = one_line if len(one_line) <= PREVIEW else one_line[: PREVIEW - 1] + "…"
    return f"✗ {shown}" if step.error is not None else repr(shown)


def status_text(rounds: int, calls: int, usage: Usage) -> str:
    return (
        f"tools: {rounds} round{'s' if rounds != 1 else ''} · {calls} call"
        f"{'s' if calls != 1 else ''} · {tokens_text(usage)} · "
        f"{format_cost(usage.cost, estimate=usage.cost_is_estimate)}"
    )


class _Log:
    """What both logs share: the lines so far, and who can be asked to approve."""

    loop: ToolLoop

    def __init__(self, kernel: Any) -> None:
        self.kernel = kernel
        self.lines: list[str] = []
        self.state = status_text(0, 0, Usage())

    def begin(self) -> None:
        return None

    def calling(self, call: ToolCall) -> None:
        self.say(self.running(call))
        self.add(f"→ {call_text(call.name, call.arguments)}")

    def running(self, call: ToolCall) -> str:
        """`round 2 · running lookup(city='Oslo')…`: what the loop is doing now."""
        return f"round {len(self.loop.rounds)} · running {call_text(call.name, call.arguments)}…"

    def called(self, step: ToolStep) -> None:
        rounds = self.loop.rounds
        self.state = status_text(len(rounds), len(self.loop.steps), self.loop.usage())
        self.add(f"← {_result_preview(step)}")
        done = sum(1 for s in self.loop.steps if s.round == len(rounds))
        if rounds and done == len(rounds[-1].tool_calls):  # the round's last call
            self.say(
                f"round {len(rounds) + 1} · waiting for the model's answer to {done} "
                f"result{'s' if done != 1 else ''}…"
            )

    def say(self, text: str) -> None:
        """Show what the loop is doing in the answer's status line (the panel's)."""
        say = getattr(self.loop.view, "say", None)
        if callable(say):
            say(text)

    def stopper(self) -> Stopper | None:
        return self.loop.stopper

    def status(self, rounds: int, calls: int, usage: Usage) -> None:
        self.state = status_text(rounds, calls, usage)
        self.redraw()

    def add(self, line: str) -> None:
        self.lines.append(line)
        self.redraw()

    def redraw(self) -> None:
        return None

    def can_ask_on_stdin(self) -> bool:
        """A terminal, or a kernel whose front end lets it read input (nbclient does not)."""
        return reads_input(self.kernel)

    def cannot_ask(self, call: ToolCall) -> Decision:
        self.add(
            f"✗ {call_text(call.name, call.arguments)} denied: it needs approval and this "
            "front end cannot ask (no widgets, no input); run the cell in JupyterLab or a "
            "terminal, or drop --approve"
        )
        return "no"

    def ask_on_stdin(self, call: ToolCall) -> Decision:
        prompt = f"Run {printable(call_text(call.name, call.arguments))}? [y]es, [n]o, [a]ll: "
        try:
            answer = input(prompt).strip().lower()
        except (EOFError, OSError, RuntimeError):  # no input can come
            return self.cannot_ask(call)
        decision: Decision = "all" if answer.startswith("a") else (
            "yes" if answer.startswith("y") else "no"
        )  # fmt: skip
        self.add(f"{'✓' if decision != 'no' else '✗'} {call.name}: {said(decision)}")
        return decision


class TextLog(_Log):
    """Terminals and front ends without widgets: each line printed as it happens; a call
    says its round as it starts (`→ round 2 · running lookup(city='Oslo')…`)."""

    def calling(self, call: ToolCall) -> None:
        self.add(f"→ {self.running(call)}")

    def add(self, line: str) -> None:
        super().add(line)
        print(printable(f"\n{line}" if len(self.lines) == 1 else line), flush=True)

    def status(self, rounds: int, calls: int, usage: Usage) -> None:
        self.state = status_text(rounds, calls, usage)

    async def approve(self, call: ToolCall) -> Decision:
        if not self.can_ask_on_stdin():
            return self.cannot_ask(call)
        return self.ask_on_stdin(call)


class PanelLog(_Log):
    """Above the answer's panel: a collapsible log of the calls, with the loop's status
    (rounds, calls, tokens, billed cost) as its title; an ordinary output that stays in
    the saved notebook. Approvals show Approve, Deny and Approve all buttons."""

    handle: Any = None

    def begin(self) -> None:
        from IPython.display import display

        self.handle = display(self.bundle(), raw=True, display_id=True)

    def bundle(self) -> dict[str, str]:
        items = "".join(f"<div>{html.escape(line)}</div>" for line in self.lines)
        title = html.escape(self.state)
        body = (
            f'<details class="orj-tools {NO_MATHS}" open><summary>{title}</summary>'
            f'<div style="font-family: var(--jp-code-font-family, monospace); '
            f'font-size: 0.9em">{items}</div></details>'
        )
        plain = "\n".join([f"[{self.state}]", *self.lines])
        return {"text/html": body, "text/plain": printable(plain)}

    def redraw(self) -> None:
        if self.handle is not None:
            self.handle.update(self.bundle(), raw=True)

    async def approve(self, call: ToolCall) -> Decision:
        if not self.can_ask_on_stdin():
            return self.cannot_ask(call)
        from orjupyter.jupyter.approval import ask_with_buttons

        self.say(f"round {len(self.loop.rounds)} · waiting for your approval of {call.name}")
        return await ask_with_buttons(self, call)
