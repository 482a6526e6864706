"""Retries and the dead letters, with the three services running as real processes."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.broker import message_count
from tests.support.stack import Stack
from tests.support.waiting import wait_terminal

pytestmark = pytest.mark.e2e


def flaky(key: str, fail_times: int) -> dict[str, object]:
    return {
        "task": "e2e.flaky", "args": {"key": key, "fail_times": fail_times}, "tier": "TINY",
        "max_retries": 2, "retry_backoff": 0.1,
    }  # fmt: skip


async def follow(client: httpx.AsyncClient, job_id: str, attempt: int) -> list[dict[str, object]]:
    """What ``laneyard logs --follow`` does: pass ``next`` back as ``after`` until ``done``."""
    lines: list[dict[str, object]] = []
    after = 0
    for _ in range(200):
        page = (
            await client.get(f"/v1/jobs/{job_id}/logs", params={"attempt": attempt, "after": after})
        ).json()
        lines += page["lines"]
        after = page["next"]
        if page["done"]:
            return lines
        await asyncio.sleep(0.1)
    raise AssertionError("the log never said done")


async def test_a_job_is_retried_then_dead_lettered_and_a_replay_runs_it_again(
    stack: Stack, settings: Settings, db: Database, bus: Bus
) -> None:
    stack.add("admission"), stack.add("dispatcher"), stack.add("runner", "--slots", "4")
    await asyncio.to_thread(stack.wait_ready)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        started = time.monotonic()
        ids = []
        for body in (flaky(uuid.uuid4().hex, 2), flaky(uuid.uuid4().hex, 3)):
            reply = await client.post("/v1/jobs", json=body)
            assert reply.status_code == 202, reply.text
            ids.append(reply.json()["id"])
        recovers, fails = ids
        docs = await wait_terminal(db, set(ids), within=60)
        print(f"\ntwo jobs through three attempts each in {time.monotonic() - started:.1f}s")

        # Failing twice, then succeeding, with max_retries=2: COMPLETED on attempt 3.
        assert docs[recovers]["state"] == "COMPLETED" and docs[recovers]["attempt"] == 3
        view = (await client.get(f"/v1/jobs/{recovers}")).json()
        by_attempt = {a: [t["state"] for t in view["transitions"] if t["attempt"] == a] for a in (1, 2, 3)}
        assert by_attempt == {
            1: ["IN_QUEUE", "WAITING", "RUNNING", "ERROR"],
            2: ["IN_QUEUE", "WAITING", "RUNNING", "ERROR"],
            3: ["IN_QUEUE", "WAITING", "RUNNING", "COMPLETED"],
        }
        assert view["result"] == {"runs": 3} and view["dead_letter"] is None
        for attempt in (1, 2, 3):
            lines = await follow(client, recovers, attempt)
            assert [(ln["seq"], ln["line"], ln["stream"]) for ln in lines] == [
                (1, f"attempt {attempt}, run {attempt}", "log")
            ]
        current = (await client.get(f"/v1/jobs/{recovers}/logs")).json()
        assert current["attempt"] == 3 and current["done"] is True and current["next"] == 1
        assert (await client.get(f"/v1/jobs/{recovers}/logs", params={"attempt": 4})).status_code == 404

        # Failing on every attempt: ERROR, and its message is dead-lettered with the reason.
        failed = (await client.get(f"/v1/jobs/{fails}")).json()
        assert failed["state"] == "ERROR" and failed["attempt"] == 3 and failed["reason"] == "exception"
        assert "flaky failure 3 of 3" in failed["error"]
        listed = (await client.get("/v1/dead-letters", params={"source": "runner"})).json()["items"]
        assert [d["job_id"] for d in listed] == [fails]
        dead = listed[0]
        assert dead["id"] == failed["dead_letter"] and dead["replayed"] is False
        assert "last attempt (3 of 3)" in dead["reason"] and "flaky failure 3 of 3" in dead["reason"]
        detail = (await client.get(f"/v1/dead-letters/{dead['id']}")).json()
        assert detail["body"]["id"] == fails and detail["body"]["attempt"] == 3
        assert await message_count(settings, bus.names.dead_queue) == 1

        # Replayed: a new job, which (the flaky count having moved on) now succeeds.
        replay = (await client.post(f"/v1/dead-letters/{dead['id']}/replay")).json()
        assert replay["id"] == dead["id"] and replay["job_id"] != fails
        again = (await wait_terminal(db, {replay["job_id"]}, within=30))[replay["job_id"]]
        assert again["state"] == "COMPLETED" and again["attempt"] == 1 and again["result"] == {"runs": 4}
        assert again["replay_of"] == dead["id"]
        assert (await client.post(f"/v1/dead-letters/{dead['id']}/replay")).json()["job_id"] == replay[
            "job_id"
        ]
