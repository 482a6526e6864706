"""The whole path of a job, through the three services running as real processes."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter

import aio_pika
import httpx
import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.stack import Stack

pytestmark = pytest.mark.e2e

JOBS_PER_PATH = 250


async def wait_terminal(db: Database, ids: set[str], within: float) -> dict[str, str]:
    deadline = time.monotonic() + within
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {
            d["_id"]: d["state"] async for d in db["jobs"].find({"_id": {"$in": list(ids)}}, {"state": 1})
        }
        if len(states) == len(ids) and all(s in ("COMPLETED", "ERROR", "CANCELLED") for s in states.values()):
            return states
        await asyncio.sleep(0.5)
    return states


async def test_500_jobs_over_http_and_amqp_complete_exactly_once(
    stack: Stack, settings: Settings, db: Database
) -> None:
    stack.add("admission")
    stack.add("dispatcher")
    stack.add("runner", "--slots", "16")
    stack.add("runner", "--slots", "16")
    await asyncio.to_thread(stack.wait_ready)

    body = {"task": "e2e.count", "args": {"lines": 3}, "tier": "TINY"}
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        sem = asyncio.Semaphore(16)

        async def submit(i: int) -> str:
            async with sem:
                reply = await client.post("/v1/jobs", json={**body, "priority": i % 10})
                assert reply.status_code == 202, reply.text
                return str(reply.json()["id"])

        http_ids = set(await asyncio.gather(*(submit(i) for i in range(JOBS_PER_PATH))))

        connection = await aio_pika.connect(settings.amqp_url)
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(f"{settings.prefix}.submit")
        amqp_ids = {uuid.uuid4().hex for _ in range(JOBS_PER_PATH)}
        for job_id in amqp_ids:
            await exchange.publish(aio_pika.Message(json.dumps(body).encode(), message_id=job_id), "")
        # A malformed message in the middle of the flood is dead-lettered and hurts nobody else.
        await exchange.publish(aio_pika.Message(b"{not json", message_id="bad-message-0001"), "")
        await connection.close()

        all_ids = http_ids | amqp_ids
        assert len(all_ids) == 2 * JOBS_PER_PATH
        states = await wait_terminal(db, all_ids, within=180)
        assert Counter(states.values()) == {"COMPLETED": 2 * JOBS_PER_PATH}, Counter(states.values())

        executions = Counter([d["job_id"] async for d in db["executions"].find({}, {"job_id": 1})])
        assert set(executions) == all_ids
        assert set(executions.values()) == {1}, "some job ran more than once"

        sample = sorted(all_ids)[:20]
        for job_id in sample:
            job = (await client.get(f"/v1/jobs/{job_id}")).json()
            assert job["state"] == "COMPLETED" and job["attempt"] == 1
            assert [t["state"] for t in job["transitions"]] == ["IN_QUEUE", "WAITING", "RUNNING", "COMPLETED"]
            assert job["runner"] and job["result"]["execution"]
            logs = (await client.get(f"/v1/jobs/{job_id}/logs")).json()["lines"]
            assert [ln["line"] for ln in logs] == [f"{job_id} line {i}" for i in range(3)]

    dead = await db["dead_letters"].find_one({"source": "admission"})
    assert dead is not None and "not JSON" in dead["reason"]
