"""Prints `make bench`'s final table once every benchmark has run, and saves it; cleans the broker."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from laneyard.shared.settings import Settings
from tests.bench.report import REPORT
from tests.support.broker import delete_topology


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not REPORT.sections:
        return
    terminalreporter.write_line("")
    for line in REPORT.render().splitlines():
        terminalreporter.write_line(line)
    terminalreporter.write_line(f"(saved to {REPORT.save()})")


@pytest.fixture(autouse=True)
async def clean_broker(settings: Settings) -> AsyncIterator[None]:
    """Benchmarks start their own stack, which declares this test's queues: remove them after."""
    yield
    await delete_topology(settings)
