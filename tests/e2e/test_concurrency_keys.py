"""Concurrency keys with the three services as real processes: a key limited to 3 never has more
than 3 jobs running, by the runner's reports, the database and the jobs' run times, while the
jobs over the limit wait parked and every one of them still runs (docs/fairness.md)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.concurrency import Peak, ReportWatch, delete_park_queues, most_at_once, watch_database
from tests.support.stack import Stack
from tests.support.waiting import wait_terminal

pytestmark = pytest.mark.e2e

KEY = "db:reports"


async def submit_batch(client: httpx.AsyncClient, bodies: list[dict[str, object]]) -> list[str]:
    reply = await client.post("/v1/jobs/batch", json={"jobs": bodies})
    assert reply.status_code in (202, 207), reply.text
    items = reply.json()["jobs"]
    assert all(item["status"] == 202 for item in items), items
    return [str(item["id"]) for item in items]


async def test_a_key_limited_to_three_never_runs_more_than_three(
    settings: Settings, tmp_path: Path, db: Database, bus: Bus
) -> None:
    # The setting bounds every db:* key to 5; the API's exact limit for this key beats the prefix.
    settings = settings.model_copy(update={"concurrency_limits": "db:*=5", "concurrency_sweep_seconds": 1.0})
    stack = Stack(settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"})
    keyed = {"task": "e2e.count", "args": {"sleep": 0.1}, "tier": "TINY", "concurrency_key": KEY}
    other = {"task": "e2e.count", "args": {"sleep": 0.1}, "tier": "TINY"}
    stop = asyncio.Event()
    try:
        stack.add("admission"), stack.add("dispatcher"), stack.add("runner", "--slots", "8")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            reply = await client.put(f"/v1/concurrency/{KEY}", json={"max_running": 3})
            assert reply.status_code == 200, reply.text
            listed = (await client.get("/v1/concurrency")).json()
            assert listed["limits"] == {"db:*": 5, KEY: 3}
            keyed_ids = await submit_batch(client, [keyed] * 40)
            watch = ReportWatch(bus, set(keyed_ids))
            await watch.start()
            in_db = Peak()
            sampler = asyncio.create_task(watch_database(db, KEY, in_db, stop))
            other_ids = await submit_batch(client, [other] * 20)
            docs = await wait_terminal(db, set(keyed_ids) | set(other_ids), within=120)
            stop.set()
            await sampler
            in_use = (await client.get("/v1/concurrency")).json()["keys"]
        assert {d["state"] for d in docs.values()} == {"COMPLETED"}
        by_runs = most_at_once([docs[i] for i in keyed_ids])
        print(
            f"\nkey limited to 3, 40 jobs: most running at once by the runner's reports "
            f"{watch.peak.most} ({watch.peak.samples} reports), by the database {in_db.most} "
            f"({in_db.samples} samples), by run times {by_runs}"
        )
        assert watch.peak.most <= 3 and in_db.most <= 3 and by_runs == 3
        assert watch.peak.samples > 0 and in_db.samples > 0
        # Every slot was given back.
        assert all(k["running"] == 0 for k in in_use if k["key"] == KEY), in_use
    finally:
        stop.set()
        stack.stop()
        await delete_park_queues(settings, KEY)
