"""How the Python examples of the documents are found and told apart (tests/support/doc_examples.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import doc_examples
from tests.support.stack import ROOT

DOC = """# Title

```python
print("script")
```

```bash
echo not python
```

```python
# myapp/tasks.py
from laneyard import task
```

text

```python
# not run: needs a GPU
import torch
```

```python
# myapp/tasks.py
@task("b")
def b(ctx): ...
```
"""


def test_blocks_are_scripts_modules_or_marked_not_run() -> None:
    found = doc_examples.parse(DOC, "doc.md")
    assert [(e.line, e.module, e.not_run, e.runnable) for e in found] == [
        (4, None, None, True),
        (12, "myapp/tasks.py", None, False),
        (19, None, "needs a GPU", False),
        (24, "myapp/tasks.py", None, False),
    ]
    assert found[0].where == "doc.md:4"
    assert found[0].script().splitlines()[3] == 'print("script")'  # line 4, as in the document


def test_blocks_of_one_module_are_joined_in_order(tmp_path: Path) -> None:
    found = doc_examples.parse(DOC, "doc.md")
    assert doc_examples.write_project(found, tmp_path) == ["myapp.tasks"]
    source = (tmp_path / "myapp" / "tasks.py").read_text()
    assert source.index("from laneyard import task") < source.index('@task("b")')
    assert (tmp_path / "myapp" / "__init__.py").exists()


def test_a_not_run_marker_needs_a_reason_and_a_block_must_close() -> None:
    with pytest.raises(ValueError, match="needs a reason"):
        doc_examples.parse("```python\n# not run\nx = 1\n```\n", "doc.md")
    with pytest.raises(ValueError, match="never closed"):
        doc_examples.parse("```python\nx = 1\n", "doc.md")


def test_lanes_named_by_the_examples() -> None:
    found = doc_examples.parse('```python\nsubmit(lane="reports")\nx(lane="main")\n```\n', "doc.md")
    assert doc_examples.lanes(found) == {"reports"}


@pytest.mark.parametrize("document", ["README.md", "docs/python.md"])
def test_the_documents_have_examples_to_run(document: str) -> None:
    found = doc_examples.examples(ROOT / document, document)
    assert any(e.runnable for e in found) and any(e.module for e in found)
