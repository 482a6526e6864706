"""The console in Debian's chromium against the real stack (admission, dispatcher and runner as
processes, API keys configured): pages follow jobs without a reload, and the buttons act."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Browser, Page, expect

from laneyard import Client
from tests.support.console_browser import ADMIN_KEY, READ_KEY, api, sign_in
from tests.support.stack import Stack

pytestmark = pytest.mark.browser
WAIT = 20_000  # ms: Playwright's expect polls up to this long


def state_of(stack: Stack, job_id: str) -> str:
    with api(stack) as client:
        return str(client.get(f"/v1/jobs/{job_id}").json()["state"])


def test_a_submitted_job_appears_in_the_list_and_completes_without_a_reload(
    admin_page: Page, console_stack: Stack
) -> None:
    admin_page.goto(f"{console_stack.url}/ui/jobs")
    admin_page.evaluate("window.notReloaded = true")
    with Client(console_stack.url, ADMIN_KEY) as client:
        job = client.submit("demo.sleep", {"seconds": 1.5}, tier="TINY")
    row = admin_page.locator(f"tr[data-job='{job.id}']")
    expect(row).to_be_visible(timeout=WAIT)
    expect(row.locator(".state")).to_have_text("COMPLETED", timeout=WAIT)
    assert admin_page.evaluate("window.notReloaded") is True


def test_log_lines_appear_while_the_job_runs(admin_page: Page, console_stack: Stack) -> None:
    with Client(console_stack.url, ADMIN_KEY) as client:
        job = client.submit("console.drip", {"lines": 25, "every": 0.25}, tier="TINY")
    admin_page.goto(f"{console_stack.url}/ui/jobs/{job.id}")
    log = admin_page.locator("#log-lines")
    expect(log).to_contain_text("line 3 of 25", timeout=WAIT)
    assert state_of(console_stack, job.id) == "RUNNING"  # the lines came before the end
    expect(log).to_contain_text("line 25 of 25", timeout=WAIT)
    expect(admin_page.locator("#job-state")).to_have_text("COMPLETED", timeout=WAIT)
    expect(admin_page.locator(".log-end")).to_be_visible(timeout=WAIT)


def test_the_cancel_button_stops_a_running_job(admin_page: Page, console_stack: Stack) -> None:
    with Client(console_stack.url, ADMIN_KEY) as client:
        job = client.submit("demo.sleep", {"seconds": 120}, tier="TINY")
    admin_page.goto(f"{console_stack.url}/ui/jobs/{job.id}")
    expect(admin_page.locator("#job-state")).to_have_text("RUNNING", timeout=WAIT)
    admin_page.click("#cancel")
    expect(admin_page.locator("#job-state")).to_have_text("CANCELLED", timeout=WAIT)
    assert state_of(console_stack, job.id) == "CANCELLED"


def test_a_dead_letter_is_replayed_from_the_page(admin_page: Page, console_stack: Stack) -> None:
    with Client(console_stack.url, ADMIN_KEY) as client:
        job = client.submit("demo.fail", tier="TINY")
    with api(console_stack) as http:
        for _ in range(200):
            dead = http.get(f"/v1/jobs/{job.id}").json().get("dead_letter")
            if dead:
                break
            time.sleep(0.1)
    assert dead, "the failed job left no dead letter"
    admin_page.goto(f"{console_stack.url}/ui/dead-letters")
    admin_page.locator(f"tr[data-dead='{dead}'] button").click()
    expect(admin_page).to_have_url(re.compile(r"/ui/jobs/[^/?]+\?done=replayed$"), timeout=WAIT)
    expect(admin_page.locator("dl.fields")).to_contain_text(dead)  # "replay of" names it
    new_id = admin_page.url.split("/ui/jobs/")[1].split("?")[0]
    with api(console_stack) as http:
        assert http.get(f"/v1/dead-letters/{dead}").json()["replay_job_id"] == new_id


def test_a_schedule_is_paused_from_the_page(admin_page: Page, console_stack: Stack) -> None:
    with api(console_stack) as http:
        made = http.post("/v1/schedules", json={"name": "hourly", "task": "demo.noop", "every": 3600})
        schedule_id = made.json()["id"]
    admin_page.goto(f"{console_stack.url}/ui/schedules")
    admin_page.locator(f"tr[data-schedule='{schedule_id}'] button", has_text="Pause").click()
    expect(admin_page.locator("#schedule-state")).to_have_text("paused", timeout=WAIT)
    with api(console_stack) as http:
        assert http.get(f"/v1/schedules/{schedule_id}").json()["paused"] is True


def test_a_read_key_sees_no_cancel_button_and_a_forged_cancel_is_refused(
    browser: Browser, console_stack: Stack
) -> None:
    with Client(console_stack.url, ADMIN_KEY) as client:
        job = client.submit("demo.sleep", {"seconds": 120}, tier="TINY")
    context = browser.new_context()
    try:
        page = context.new_page()
        sign_in(page, console_stack.url, READ_KEY)
        page.goto(f"{console_stack.url}/ui/jobs/{job.id}")
        expect(page.locator("#job-state")).to_be_visible()
        expect(page.locator("#cancel")).to_have_count(0)
        # The page offers no form, so take the token from the sign-out form and forge one.
        token = page.locator("input[name=csrf]").first.get_attribute("value")
        forged = context.request.post(
            f"{console_stack.url}/ui/jobs/{job.id}/cancel", form={"csrf": token or ""}, max_redirects=0
        )
        assert forged.status == 403, forged.text()
        assert state_of(console_stack, job.id) != "CANCELLED"
    finally:
        context.close()
        with api(console_stack) as http:
            http.post(f"/v1/jobs/{job.id}/cancel")
