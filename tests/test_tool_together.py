"""`--tools` with the rest, through a real IPython shell against the local server: a
matplotlib figure a tool returns is shown to the model as an image, `--web` goes in the
same request with its search capped, and a reasoning model's `reasoning_details` come
back in the next round as it sent them."""

from __future__ import annotations

import base64
import io
import json
import re
from typing import Any

from conftest import sent_images


def run(shell: Any, source: str) -> Any:
    return shell.run_cell(source, store_history=True)


def b64(value: object) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def lookup(city: str) -> str:
    """The weather in a city."""
    return f"{city}: 12 C"


def test_a_matplotlib_figure_a_tool_returns_is_looked_at(shell, router):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = []

    def plot_sales(by: str = "revenue") -> Any:
        """A bar chart of the sales."""
        fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
        ax.bar(["kettle", "lamp"], [3, 5])
        ax.set_title(by)
        plt.close(fig)
        drawn.append(by)
        return fig

    shell.user_ns["plot_sales"] = plot_sales
    run(shell, "%%gpt4o --tools plot_sales -o r\nPlot the sales and tell me what you see.")
    assert drawn == ["revenue"]  # the model called it with the parameter's default
    messages = router.requests[-1].body["messages"]
    assert messages[-2]["role"] == "tool"
    said = re.fullmatch(r"plot_sales returned an image \((\d+)×(\d+)\)\.", messages[-2]["content"])
    assert said is not None, messages[-2]["content"]
    width, height = int(said[1]), int(said[2])
    assert messages[-1]["role"] == "user"
    assert sent_images(messages[-1]["content"]) == [(width, height, "image/png")]
    assert bar_pixels(messages[-1]["content"]) > 1000  # the chart itself, not a blank
    reply = shell.user_ns["r"]
    assert f"The image plot_sales returned: image: {width}x{height} image/png" in reply.text


def bar_pixels(content: list[dict[str, Any]]) -> int:
    """Pixels of matplotlib's first colour (its bars) in the message's image."""
    from PIL import Image

    [url] = [part["image_url"]["url"] for part in content if part["type"] == "image_url"]
    with Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as image:
        pixels = list(image.convert("RGB").get_flattened_data())
        return sum(1 for r, g, b in pixels if abs(r - 31) + abs(g - 119) + abs(b - 180) < 30)


def test_web_search_and_functions_go_in_one_request_with_the_searches_capped(shell, router):
    shell.user_ns["lookup"] = lookup
    script = b64([[{"name": "lookup", "arguments": {"city": "Oslo"}}]])
    cell = f"%%gpt4o --web --tools lookup -o r\n[[fake searches=3 calls_b64={script}]] Go"
    run(shell, cell)
    first, second = (request.body for request in router.requests)
    search = {
        "type": "openrouter:web_search",
        "parameters": {"max_results": 5, "max_total_results": 5, "max_uses": 1},
    }
    assert [tool.get("function", {}).get("name") for tool in first["tools"]] == ["lookup", None]
    assert first["tools"][1] == search
    assert second["tools"] == first["tools"]
    # the model wanted three searches a round; the cap let it make one
    billed = router.billed()
    assert [usage["server_tool_use"] for usage in billed] == [{"web_search_requests": 1}] * 2
    reply = shell.user_ns["r"]
    assert [step.result for step in reply.steps] == ["Oslo: 12 C"]
    assert len(reply.citations) == 5


def test_reasoning_details_go_back_unchanged_in_the_next_round(shell, router):
    shell.user_ns["lookup"] = lookup
    script = b64([[{"name": "lookup", "arguments": {"city": "Oslo"}}]])
    cell = (
        f"%%gpt4o -m openai/o4-mini --think low --tools lookup -o r\n[[fake calls_b64={script}]] Go"
    )
    run(shell, cell)
    first, second = (request.body for request in router.requests)
    assert first["reasoning"] == {"effort": "low"}
    [assistant] = [m for m in second["messages"] if m["role"] == "assistant"]
    details = assistant["reasoning_details"]
    assert [d["type"] for d in details] == ["reasoning.text"] * 8  # `low`: eight words
    thought = "".join(d["text"] for d in details)
    reply = shell.user_ns["r"]
    assert reply.reasoning.startswith(thought + "\n\n")  # round 1's, then round 2's
    assert assistant["tool_calls"][0]["function"]["name"] == "lookup"
