"""What "Copy code" and "Insert as cell" take from an answer."""

from __future__ import annotations

import pytest

from orjupyter.core.formats import code_to_insert

CODE = "import math\n\n\nprint(math.tau)"


@pytest.mark.parametrize(
    ("fmt", "answer", "expected"),
    [
        ("markdown", f"Try:\n\n```python\n{CODE}\n```\n\nDone.", CODE),
        ("markdown", f"~~~\n{CODE}\n~~~", CODE),
        # the Python block, not the shell line before it
        ("markdown", "```sh\npip install x\n```\nthen\n```python\nimport x\n```", "import x"),
        ("markdown", "```py\nfirst()\n```\n\n```python\nsecond()\n```", "first()"),
        ("markdown", "```bash\nls -l\n```\n\n```sql\nselect 1\n```", "ls -l"),
        ("markdown", "No code here, just `inline` words.", ""),
        ("text", "print('unfenced prose is not code')", ""),
        ("code", CODE, CODE),  # -f code: the model was asked for code only
        ("code", f"```python\n{CODE}\n```", CODE),
    ],
)
def test_code_to_insert(fmt, answer, expected):
    assert code_to_insert(fmt, answer) == expected


def test_an_unclosed_fence_is_not_taken_as_code():
    assert code_to_insert("markdown", "```python\nprint(1)\n") == ""
