"""A pytest plugin: shortly before pytest-timeout fails a test, print what every asyncio task awaits.

pytest-timeout shows the threads' stacks, and for an async test the main thread is only ever in the
event loop's select(); the coroutine that does not come back is visible only through its task.
Loaded with ``-p tests.support.hang_report`` (pyproject's addopts).
"""

from __future__ import annotations

import asyncio
import gc
import io
import sys
import threading
from collections.abc import Iterator

import pytest

MARGIN_SECONDS = 15.0


def await_chain(coro: object, depth: int = 40) -> list[str]:
    """Where a suspended coroutine is, and where each coroutine it awaits is, innermost last."""
    lines: list[str] = []
    while coro is not None and len(lines) < depth:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is None:
            lines.append(f"  awaiting {coro!r}"[:300])
            break
        lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
    return lines


def describe_tasks() -> str:
    """Every unfinished asyncio task and the chain of awaits it is suspended in."""
    out = io.StringIO()
    tasks = [o for o in gc.get_objects() if isinstance(o, asyncio.Task) and not o.done()]
    out.write(f"\n==== {len(tasks)} unfinished asyncio task(s) ====\n")
    for task in tasks:
        out.write(f"--- {task.get_name()}\n")
        try:
            out.write("\n".join(await_chain(task.get_coro())) + "\n")
        except Exception as exc:  # a frame changing under us: show what there is
            out.write(f"(stack unavailable: {exc!r})\n")
    return out.getvalue()


@pytest.fixture(autouse=True)
def _report_hangs(request: pytest.FixtureRequest) -> Iterator[None]:
    timeout = float(request.config.getini("timeout") or 0)
    marker = request.node.get_closest_marker("timeout")
    if marker is not None and marker.args:
        timeout = float(marker.args[0])
    if timeout <= MARGIN_SECONDS:
        yield
        return

    def report() -> None:
        # Straight to the terminal as well: a run cut short keeps nothing of the captured output.
        text = describe_tasks()
        sys.__stderr__.write(f"\n{request.node.nodeid} is about to time out{text}")
        sys.__stderr__.flush()

    timer = threading.Timer(timeout - MARGIN_SECONDS, report)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
