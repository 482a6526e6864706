"""The console's browser tests: the real stack as processes, with API keys, and Debian's chromium
driven by Playwright (its own browser download is never used)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
from playwright.sync_api import Browser, Page, sync_playwright
from pymongo import MongoClient

from laneyard.shared.settings import Settings
from tests.support import test_settings
from tests.support.broker import delete_topology
from tests.support.stack import Stack

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ADMIN_KEY = "console-admin-key"
READ_KEY = "console-read-key"


def stack_settings(amqp_url: str, mongo_url: str) -> Settings:
    return test_settings.for_a_test(amqp_url, mongo_url, api_keys=f"{ADMIN_KEY}:admin;{READ_KEY}:read")


@contextmanager
def running_stack(settings: Settings, log_dir: Path) -> Iterator[Stack]:
    stack = Stack(settings, log_dir, env_extra={"LANEYARD_RUNNER_TASKS": "tests.support.console_tasks"})
    try:
        stack.add("admission"), stack.add("dispatcher"), stack.add("runner")
        stack.wait_ready()
        yield stack
    finally:
        stack.stop()
        delete_topology_sync(settings)
        with MongoClient(settings.mongo_url) as client:
            client.drop_database(settings.mongo_db)


def delete_topology_sync(settings: Settings) -> None:
    # In a thread of its own: Playwright's sync API keeps an event loop running in this one.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, delete_topology(settings)).result(timeout=60)


@contextmanager
def chromium() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: `apt-get install chromium` (dev/bootstrap does it)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def sign_in(page: Page, base_url: str, key: str) -> None:
    page.goto(f"{base_url}/ui/login")
    page.fill("input[name=key]", key)
    page.click("form.stack button")
    page.wait_for_url(re.compile(r".*/ui$"))


def api(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, timeout=30)
