from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests.support.console_browser import ADMIN_KEY, chromium, running_stack, sign_in, stack_settings
from tests.support.stack import Stack


# Module-scoped, not session-scoped: Playwright's sync API runs an event loop in this thread while a
# browser is open, and the async tests collected after these must find the thread free.
@pytest.fixture(scope="module")
def console_stack(amqp_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(stack_settings(amqp_url, mongo_url), Path(tmp_path_factory.mktemp("stack"))) as s:
        yield s


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 800})
    yield ctx
    ctx.close()


@pytest.fixture
def admin_page(context: BrowserContext, console_stack: Stack) -> Page:
    page = context.new_page()
    sign_in(page, console_stack.url, ADMIN_KEY)
    return page
