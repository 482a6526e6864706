from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from laneyard.shared.settings import Settings
from tests.support.broker import consumer_timeout_10s as consumer_timeout_10s  # a fixture
from tests.support.stack import Stack


@pytest.fixture
def stack(settings: Settings, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Stack]:
    s = Stack(settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"})
    yield s
    s.stop()
    report = request.node.stash.get(_failed, False)
    if report:
        for service in s.services:
            print(s.tail(service, 80))


_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    rep = yield
    if rep.when == "call" and rep.failed:  # type: ignore[attr-defined]
        item.stash[_failed] = True
    return rep
