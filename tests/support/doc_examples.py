"""The Python examples of a Markdown document, so that a test can run every one of them.

Each ```` ```python ```` fenced block is an example, of one of three kinds, told by its first line:

- ``# myapp/tasks.py``: a module of the reader's project. Blocks naming the same file are its
  consecutive parts, joined in document order; the test writes the modules into a project folder
  and starts a runner there with ``--tasks`` naming them, as a user would.
- ``# not run: <reason>``: shown, never run. The reason is required; keep such blocks rare.
- anything else: a script, run in the project folder against a running stack.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

OPEN = re.compile(r"^```python\s*$")
CLOSE = re.compile(r"^```\s*$")
MODULE = re.compile(r"^#\s*((?:[A-Za-z_]\w*/)*[A-Za-z_]\w*\.py)\s*$")
NOT_RUN_MARK = re.compile(r"^#\s*not run\b", re.IGNORECASE)
NOT_RUN = re.compile(r"^#\s*not run:\s*(?P<reason>\S.*)$", re.IGNORECASE)
LANE = re.compile(r"""\blane\s*=\s*["']([\w-]+)["']""")


@dataclass(frozen=True)
class Example:
    document: str
    line: int  # the line of the block's first line of code, from 1
    code: str
    module: str | None = None  # "myapp/tasks.py" for a module block
    not_run: str | None = None  # the reason, for a block that is only shown

    @property
    def where(self) -> str:
        return f"{self.document}:{self.line}"

    @property
    def runnable(self) -> bool:
        return self.module is None and self.not_run is None

    def script(self) -> str:
        """The code, preceded by blank lines so a traceback's line numbers are the document's."""
        return "\n" * (self.line - 1) + self.code


def examples(path: Path, name: str | None = None) -> list[Example]:
    """Every ```` ```python ```` block of the Markdown file, in order."""
    return parse(path.read_text(), name or path.name)


def parse(text: str, document: str) -> list[Example]:
    found: list[Example] = []
    block: list[str] | None = None
    start = 0
    for number, line in enumerate(text.splitlines(), start=1):
        if block is None:
            if OPEN.match(line):
                block, start = [], number + 1
        elif CLOSE.match(line):
            found.append(_example(document, start, block))
            block = None
        else:
            block.append(line)
    if block is not None:
        raise ValueError(f"{document}:{start - 1}: a ```python block is never closed")
    return found


def _example(document: str, line: int, lines: list[str]) -> Example:
    code = "\n".join(lines) + "\n"
    first = lines[0].strip() if lines else ""
    if NOT_RUN_MARK.match(first):
        skipped = NOT_RUN.match(first)
        if skipped is None:
            raise ValueError(f"{document}:{line}: `# not run:` needs a reason")
        return Example(document, line, code, not_run=skipped["reason"].strip())
    module = MODULE.match(first)
    return Example(document, line, code, module=module[1] if module else None)


def modules(found: Iterable[Example]) -> dict[str, str]:
    """Module path -> its source: the blocks naming it, joined in document order."""
    out: dict[str, list[str]] = {}
    for example in found:
        if example.module is not None:
            out.setdefault(example.module, []).append(example.code)
    return {path: "\n\n".join(parts) for path, parts in out.items()}


def write_project(found: Iterable[Example], root: Path) -> list[str]:
    """Writes the module blocks under ``root`` (with the ``__init__.py`` of each package folder)
    and returns their import names, e.g. ``["myapp.tasks"]``."""
    names = []
    for path, source in modules(found).items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        for folder in Path(path).parents:
            if folder != Path("."):
                (root / folder / "__init__.py").touch()
        target.write_text(source)
        names.append(path.removesuffix(".py").replace("/", "."))
    return names


def lanes(found: Iterable[Example]) -> set[str]:
    """The lanes the examples name (``lane="reports"``), besides ``main``."""
    return {lane for example in found for lane in LANE.findall(example.code)} - {"main"}
