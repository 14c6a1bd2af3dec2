"""`--context N`: the cells run before the question, with their outputs and images."""

from __future__ import annotations

import base64
import io

import pytest
from conftest import sent_images
from nbformat.v4 import new_code_cell, new_notebook
from PIL import Image
from test_notebooks import answer_outputs, execute

from orjupyter.core.context import CellOutput, OutputText, RanCell, select_context
from orjupyter.core.domain import ImagePart, TextPart
from orjupyter.core.errors import OptionError
from orjupyter.core.image_sources import image_maker

MAKE = image_maker("openai/gpt-4o")


def png_base64(width: int = 80, height: int = 60) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "red").save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


def cell(number: int, source: str, *outputs: CellOutput) -> RanCell:
    return RanCell(number, source, outputs)


def text_of(parts) -> str:
    return "".join(p.text for p in parts if isinstance(p, TextPart))


# -- choosing and trimming (pure) --------------------------------------------------------


def test_the_newest_cells_go_oldest_first_with_outputs_and_images():
    cells = [
        cell(1, "x = 1"),
        cell(2, "print(x)", CellOutput("printed", "1\n")),
        cell(3, "plot()", CellOutput("display", "<Figure>", png_base64())),
    ]
    context = select_context(cells, 2, budget_tokens=5000, make_image=MAKE)
    text = text_of(context.parts)
    assert "x = 1" not in text
    assert text.index("In [2]") < text.index("In [3]")
    assert "printed:\n```\n1\n```" in text
    assert [type(p) for p in context.parts] == [TextPart, ImagePart, TextPart]
    assert context.note == "context: 2 cells (1 image)"
    assert text.endswith("The question:\n")


def test_oldest_cells_are_dropped_first_to_fit_the_budget():
    cells = [cell(n, f"step_{n} = {n}", CellOutput("printed", "y" * 2000)) for n in range(1, 9)]
    context = select_context(cells, None, budget_tokens=1500, make_image=MAKE)
    text = text_of(context.parts)
    assert "step_8" in text
    assert "step_1 " not in text
    assert context.dropped == 8 - context.cells > 0
    assert f"{context.dropped} older left out" in context.note
    assert context.tokens <= 1500 + 100


def test_a_large_output_is_shortened_with_a_note():
    printed = "".join(f"line {n}\n" for n in range(100_000))
    context = select_context(
        [cell(1, "for n in range(100_000): print('line', n)", CellOutput("printed", printed))],
        1,
        budget_tokens=6000,
        make_image=MAKE,
    )
    text = text_of(context.parts)
    assert "line 0\n" in text
    assert "line 99999" in text
    assert "characters left out" in text
    assert len(text) < 6000


def test_capture_keeps_the_head_and_tail_of_a_flood():
    buffer = OutputText(head=100, tail=50)
    for n in range(10_000):
        buffer.write(f"{n}\n")
    value = buffer.value()
    assert value.startswith("0\n1\n")
    assert value.endswith("9998\n9999\n")
    assert "characters left out" in value


def test_colour_codes_and_carriage_returns_read_as_a_person_saw_them():
    progress = "\x1b[32m 10%\r 50%\r100%\x1b[0m done\n"
    context = select_context(
        [cell(1, "run()", CellOutput("stderr", progress))], 1, budget_tokens=900, make_image=MAKE
    )
    assert "100% done" in text_of(context.parts)
    assert "\x1b" not in text_of(context.parts)


def test_asking_for_context_before_anything_ran_is_one_clear_line():
    with pytest.raises(OptionError, match="no cell has run since orjupyter was loaded"):
        select_context([], 2, budget_tokens=1000, make_image=MAKE)
    assert select_context([], 2, budget_tokens=1000, make_image=MAKE, explicit=False).cells == 0
    assert select_context([cell(1, "x")], 0, budget_tokens=1000, make_image=MAKE).parts == ()


# -- in a shell ------------------------------------------------------------------------


def run(shell, source: str):
    return shell.run_cell(source, store_history=True)


def last_user_text(router) -> str:
    content = router.requests[-1].body["messages"][-1]["content"]
    return content if isinstance(content, str) else text_of_content(content)


def text_of_content(content: list[dict]) -> str:
    return "".join(part.get("text", "") for part in content)


def test_context_in_a_shell_leaves_out_questions_and_says_what_went(shell, router, capsys):
    assert run(shell, "values = [3, 1, 2]\nprint('sorted:', sorted(values))").success
    assert run(shell, "%%gpt4o\nfirst question").success
    assert run(shell, "len(values)").success
    capsys.readouterr()
    assert run(shell, "%%gpt4o --context 3\nWhat did I compute?").success
    sent = last_user_text(router)
    assert "print('sorted:', sorted(values))" in sent
    assert "sorted: [1, 2, 3]" in sent
    assert "result:\n```\n3\n```" in sent
    assert "first question" not in sent  # another question is not context
    assert "What did I compute?" not in sent.split("The question:")[0]
    assert "context: 2 cells" in capsys.readouterr().out


def test_bad_context_input_sends_nothing(shell, router, capsys):
    for source, message in [
        ("%%gpt4o --context 2\nWhy?", "no cell has run since orjupyter was loaded"),
        ("%%gpt4o --context -1\nWhy?", "takes a number of cells (0 or more) or all, not '-1'"),
        ("%%gpt4o --context many\nWhy?", "or all, not 'many'"),
    ]:
        run(shell, source)
        assert message in capsys.readouterr().err
    assert router.requests == []


def test_the_default_from_config_and_the_dry_run(shell, router, capsys):
    assert run(shell, "%config OrJupyter.context = 1").success  # no cell yet: no error
    assert run(shell, "total = 41 + 1\nprint(total)").success
    capsys.readouterr()
    assert run(shell, "%%gpt4o --dry-run\nIs it right?").success
    out = capsys.readouterr().out
    assert "With the question: context: 1 cell." in out
    assert "context, sent at the start of the question (about" in out
    assert "    | total = 41 + 1" in out
    assert "    | 42" in out
    assert router.requests == []
    run(shell, "%config OrJupyter.context = 0")


def test_a_described_value_is_named_in_the_status_line(shell, router, capsys):
    import pandas as pd

    shell.user_ns["df"] = pd.DataFrame({"a": range(10_000), "b": 1.5})
    assert run(shell, "%%gpt4o\nSummarise {df}").success
    assert "df: pandas DataFrame, 10,000 rows × 2 columns" in last_user_text(router)
    assert "df: 10,000 × 2 described" in capsys.readouterr().out


# -- in a real kernel, with pandas, numpy and matplotlib's inline backend ---------------


def test_context_sends_a_plotted_figure_and_the_printed_text(router, tmp_path):
    notebook = new_notebook(
        cells=[
            new_code_cell(source)
            for source in (
                "%load_ext orjupyter",
                "import numpy as np, pandas as pd\n"
                "%matplotlib inline\n"
                "import matplotlib.pyplot as plt\n"
                "df = pd.DataFrame({'x': np.arange(10), 'y': np.arange(10) ** 2})\n"
                "from PIL import Image\n"
                "display(Image.new('RGB', (40, 30), 'red'))",
                "import sys\n"
                "print('rows:', len(df), 'stdout is', type(sys.stdout).__name__)\n"
                "df.plot(x='x', y='y')\n"
                "plt.title('squares')",
                "%%gpt4o --context 2\nWhat does the plot show about {df}?",
            )
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    done = execute(notebook, tmp_path)
    content = router.requests[-1].body["messages"][-1]["content"]
    sent = text_of_content(content)
    images = sent_images(content)
    assert len(images) == 2  # display(img) and the inline figure, as image parts
    assert images[0][:2] == (40, 30)
    assert "df = pd.DataFrame" in sent  # the cell before
    assert "rows: 10" in sent  # printed text
    assert "stdout is OutStream" in sent  # captured without replacing the kernel's stream
    assert "result:\n```\nText(0.5, 1.0, 'squares')" in sent  # the cell's Out
    assert "%load_ext" not in sent
    assert "df: pandas DataFrame, 10 rows × 2 columns" in sent
    before, question = sent.split("The question:")
    assert "What does the plot show" in question
    assert "What does the plot" not in before
    [answer] = answer_outputs(done.cells[3])
    assert "context: 2 cells (2 images) · df: 10 × 2 described" in answer["data"]["text/plain"]


def test_the_context_is_part_of_the_cache_key_and_of_the_thread(shell, router):
    assert run(shell, "x = 1\nprint('x is', x)").success
    assert run(shell, "%%gpt4o --context 1 --thread t\nWhat is x?").success
    assert run(shell, "%%gpt4o --context 1\nWhat is x?").success
    assert len(router.requests) == 1  # the same cell before and question: from the cache
    assert run(shell, "x = 2\nprint('x is', x)").success
    assert run(shell, "%%gpt4o --context 1\nWhat is x?").success
    assert len(router.requests) == 2  # another context is another request
    assert "x is 2" in last_user_text(router)
    assert run(shell, "%%gpt4o --thread t\nAnd doubled?").success
    history = router.requests[-1].body["messages"]
    assert "x is 1" in history[0]["content"]
    assert "The question:\nWhat is x?" in history[0]["content"]
    assert history[-1]["content"] == "And doubled?"


def test_a_one_line_question_takes_context(shell, router):
    assert run(shell, "name = 'Ada'\nprint(name.upper())").success
    assert run(shell, "%gpt4o --context 1 Who is named here").success
    sent = last_user_text(router)
    assert "ADA" in sent
    assert sent.endswith("The question:\nWho is named here")


def test_a_one_liner_describes_its_values_and_still_expands_its_options(shell, router):
    import numpy as np

    shell.user_ns.update(arr=np.zeros((500, 400)), style="Be terse.")
    assert run(shell, '%gpt4o --system "$style" What is the shape of {arr}').success
    messages = router.requests[-1].body["messages"]
    assert messages[0]["content"].startswith("Be terse.")
    assert "arr: numpy array, shape (500, 400), dtype float64" in messages[-1]["content"]


def test_a_redrawn_output_and_orjupyters_own_cells_are_not_context(router, tmp_path):
    notebook = new_notebook(
        cells=[
            new_code_cell(source)
            for source in (
                "%load_ext orjupyter",
                "from PIL import Image\n"
                "from IPython.display import clear_output, display\n"
                "for n in range(10):\n"
                "    clear_output(wait=True)\n"
                "    display(Image.new('RGB', (20 + n, 20), 'blue'))\n"
                "    print('frame', n)",
                "%gpt4o usage",
                "%%gpt4o --context 2\nWhat did the loop show last?",
            )
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    done = execute(notebook, tmp_path)
    content = router.requests[-1].body["messages"][-1]["content"]
    sent = text_of_content(content)
    assert [size[:2] for size in sent_images(content)] == [(29, 20)]  # the last frame only
    assert "frame 9" in sent
    assert "frame 8" not in sent
    assert "%gpt4o usage" not in sent
    [answer] = answer_outputs(done.cells[3])
    assert "context: 1 cell (1 image)" in answer["data"]["text/plain"]


def test_a_failed_cells_traceback_names_the_cells_not_the_kernels_files(router, tmp_path):
    notebook = new_notebook(
        cells=[
            new_code_cell("%load_ext orjupyter"),
            new_code_cell("def ratio(a, b):\n    return a / b"),
            new_code_cell("ratio(1, 0)", metadata={"tags": ["raises-exception"]}),
            new_code_cell("%%gpt4o --context 1\nWhy did it fail?"),
            new_code_cell("%%gpt4o\nWhy did this fail? {Err[3]}"),
        ],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3"}},
    )
    execute(notebook, tmp_path)
    context, err = (
        text_of_content(request.body["messages"][-1]["content"])
        if isinstance(request.body["messages"][-1]["content"], list)
        else request.body["messages"][-1]["content"]
        for request in router.requests[-2:]
    )
    for sent in (context, err):
        assert "ZeroDivisionError: division by zero" in sent
        assert "Cell In[3], line 1" in sent, sent  # as IPython's own traceback says
        assert "Cell In[2], line 2, in ratio" in sent, sent
        assert "ipykernel_" not in sent, sent
