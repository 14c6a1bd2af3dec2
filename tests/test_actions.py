"""The finished answer's actions, driven as the browser drives them (comm messages)."""

from __future__ import annotations

import time


def chat_requests(router) -> list:
    return [r for r in router.requests if r.path.endswith("/chat/completions")]


class Iopub:
    """Everything the kernel publishes, read as it arrives."""

    def __init__(self, client) -> None:
        self.client = client
        self.widgets: dict[str, dict] = {}
        self.updates: list[dict] = []
        self.answers: list[dict] = []
        """New outputs that hold an answer (their metadata says whose)."""

    def pump(self, until, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not until():
            assert time.monotonic() < deadline, "timed out"
            try:
                msg = self.client.get_iopub_msg(timeout=0.5)
            except Exception:
                continue
            content = msg["content"]
            if msg["msg_type"] == "comm_open":
                self.widgets[content["comm_id"]] = content["data"].get("state", {})
            elif msg["msg_type"] == "update_display_data":
                self.updates.append(content)
            elif msg["msg_type"] == "display_data" and "orjupyter" in content["metadata"]:
                self.answers.append(content)

    def bar(self) -> str | None:
        """The action bar: the answer's widget that is not its live panel."""
        for comm_id, known in self.widgets.items():
            if known.get("_model_name") == "AnyModel" and "key" not in known:
                return comm_id
        return None


def send(client, comm_id: str, data: dict) -> None:
    client.shell_channel.send(client.session.msg("comm_msg", {"comm_id": comm_id, "data": data}))


def test_follow_up_and_regenerate_continue_the_cell(router, kernel):
    kernel.execute_interactive("%load_ext orjupyter", timeout=60)
    iopub = Iopub(kernel)
    kernel.execute("%%gpt4o -o first\nWhat is a p-value?")
    iopub.pump(lambda: iopub.bar() and iopub.answers)
    bar = iopub.bar()

    # type a follow-up and press Enter: the bar's module sends it
    ask = {"event": "ask", "text": "And in one sentence?"}
    send(kernel, bar, {"method": "custom", "content": ask})
    iopub.pump(lambda: len(chat_requests(router)) == 2 and len(iopub.updates) >= 3)
    messages = chat_requests(router)[-1].body["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[0]["content"] == "What is a p-value?"
    assert messages[-1]["content"] == "And in one sentence?"
    final = iopub.updates[-1]["data"]
    assert final["text/plain"].count("I received 1 part") == 2  # both answers
    assert "And in one sentence?" in final["text/html"]
    assert iopub.updates[-1]["transient"] == iopub.answers[0]["transient"]  # same output

    # regenerate the follow-up: asked again, uncached, replacing the last answer
    before = len(iopub.updates)
    send(kernel, bar, {"method": "custom", "content": {"event": "regenerate"}})
    iopub.pump(lambda: len(chat_requests(router)) == 3 and len(iopub.updates) >= before + 2)
    again = chat_requests(router)[-1].body["messages"]
    assert [m["role"] for m in again] == ["user", "assistant", "user"]
    final = iopub.updates[-1]["data"]
    assert final["text/plain"].count("I received 1 part") == 2
    assert final["text/html"].count("And in one sentence?") == 1


def test_a_refused_follow_up_says_why_in_place(router, kernel):
    kernel.execute_interactive("%load_ext orjupyter", timeout=60)
    iopub = Iopub(kernel)
    kernel.execute("%%gpt4o --max-tokens 20\nA short question")
    iopub.pump(lambda: iopub.bar() and iopub.answers)
    kernel.execute_interactive("%gpt4o budget 0.0001", timeout=30)
    ask = {"event": "ask", "text": "Tell me everything"}
    send(kernel, iopub.bar(), {"method": "custom", "content": ask})
    iopub.pump(lambda: any("refused" in u["data"]["text/plain"] for u in iopub.updates))
    final = iopub.updates[-1]["data"]["text/plain"]
    assert final.count("I received 1 part") == 1  # the first answer is still there
    assert "budget" in final
    assert len(chat_requests(router)) == 1
