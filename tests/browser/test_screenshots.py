"""Renders the console's overview, jobs list and a job page from real data into docs/img
(``make screenshots``; not part of the default run)."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from laneyard import Client
from tests.support.console_browser import ADMIN_KEY
from tests.support.stack import ROOT, Stack

pytestmark = pytest.mark.screenshots
OUT = ROOT / "docs" / "img"


def test_render_the_console_screenshots(admin_page: Page, console_stack: Stack) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with Client(console_stack.url, ADMIN_KEY) as client:
        done = [client.submit("demo.echo", {"n": i}, tier="TINY", labels={"team": "web"}) for i in range(12)]
        client.submit("demo.fail", {"message": "upstream said 503"}, tier="TINY")
        sleeping = [client.submit("demo.sleep", {"seconds": 30}, tier="SMALL", lane="bulk") for _ in range(3)]
        followed = client.submit("console.drip", {"lines": 40, "every": 0.15}, tier="TINY")
        for job in done:
            job.wait(timeout=60)
    admin_page.goto(f"{console_stack.url}/ui/jobs/{followed.id}")
    expect(admin_page.locator("#log-lines")).to_contain_text("line 12 of 40", timeout=20_000)
    shoot(admin_page, "console-job.png")
    admin_page.goto(f"{console_stack.url}/ui/jobs")
    expect(admin_page.locator("tr[data-job]").first).to_be_visible()
    shoot(admin_page, "console-jobs.png")
    admin_page.goto(f"{console_stack.url}/ui")
    expect(admin_page.locator("#overview")).to_contain_text("bulk")
    shoot(admin_page, "console-overview.png")
    with Client(console_stack.url, ADMIN_KEY) as client:
        for job in sleeping:
            client.cancel(job.id)


def shoot(page: Page, name: str) -> None:
    page.wait_for_timeout(300)  # lets the local-time script settle; not an assertion
    page.screenshot(path=str(Path(OUT) / name), full_page=False)
