"""A concurrency key limited to 3 under a flood of 1,000 of its jobs (and 200 without a key) across
two dispatchers, with the lease holder SIGKILLed in the middle: never more than 3 of its jobs run at
once (by the runner's reports, the database, and the jobs' run times), and every job completes.
`make chaos` (about a minute)."""

from __future__ import annotations

import asyncio
import signal
import time
from pathlib import Path

import httpx
import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.concurrency import Peak, ReportWatch, delete_park_queues, most_at_once, watch_database
from tests.support.jobs import process_id_has_pid, wait_lease_holder
from tests.support.stack import Stack
from tests.support.waiting import wait_terminal

pytestmark = pytest.mark.chaos

KEY = "db:reports"
KEYED, OTHERS, LIMIT = 1000, 200, 3


async def submit_all(client: httpx.AsyncClient, body: dict[str, object], count: int) -> list[str]:
    ids: list[str] = []
    for start in range(0, count, 500):
        reply = await client.post("/v1/jobs/batch", json={"jobs": [body] * min(500, count - start)})
        assert reply.status_code in (202, 207), reply.text
        ids += [str(item["id"]) for item in reply.json()["jobs"] if item["status"] == 202]
    assert len(ids) == count
    return ids


async def ended(db: Database, ids: list[str]) -> int:
    query = {"_id": {"$in": ids}, "state": {"$in": ["COMPLETED", "ERROR", "CANCELLED"]}}
    return await db["jobs"].count_documents(query)


async def until_ended(db: Database, ids: list[str], count: int, within: float = 600) -> None:
    deadline = time.monotonic() + within
    while await ended(db, ids) < count:
        assert time.monotonic() < deadline, f"fewer than {count} jobs ended within {within}s"
        await asyncio.sleep(0.2)


async def test_a_key_limited_to_three_holds_through_a_flood_and_a_lease_holder_kill(
    settings: Settings, tmp_path: Path, db: Database, bus: Bus
) -> None:
    settings = settings.model_copy(
        update={
            "concurrency_limits": f"{KEY}={LIMIT}",
            "concurrency_sweep_seconds": 1.0,
            "lease_seconds": 2.0,
            "log_level": "WARNING",
        }
    )
    stack = Stack(settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"})
    keyed = {"task": "e2e.count", "args": {"sleep": 0.02}, "tier": "TINY", "concurrency_key": KEY}
    other = {"task": "e2e.count", "args": {"sleep": 0.02}, "tier": "TINY"}
    stop = asyncio.Event()
    try:
        dispatchers = [stack.add("dispatcher"), stack.add("dispatcher")]
        stack.add("admission"), stack.add("runner", "--slots", "16")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=60) as client:
            keyed_ids = await submit_all(client, keyed, KEYED)
            watch = ReportWatch(bus, set(keyed_ids))
            await watch.start()
            in_db = Peak()
            sampler = asyncio.create_task(watch_database(db, KEY, in_db, stop))
            other_ids = await submit_all(client, other, OTHERS)

            # The middle of the run: a third of the key's jobs ended.
            await until_ended(db, keyed_ids, KEYED // 3)
            holder = await wait_lease_holder(db, within=30)
            victim = next(d for d in dispatchers if d.proc and process_id_has_pid(holder, d.proc.pid))
            killed_at, done_then = time.time(), await ended(db, keyed_ids)
            victim.signal(signal.SIGKILL)
            successor = await wait_lease_holder(db, within=60, other_than=holder)

            docs = await wait_terminal(db, set(keyed_ids) | set(other_ids), within=600)
            stop.set()
            await sampler
        states = {d["state"] for d in docs.values()}
        by_runs = most_at_once([docs[i] for i in keyed_ids])
        print(
            f"\n{KEYED} jobs of a key limited to {LIMIT} and {OTHERS} without, two dispatchers; "
            f"SIGKILLed the lease holder with {done_then} of the key's jobs ended, "
            f"{successor} took over; most of the key's jobs running at once: by the runner's "
            f"reports {watch.peak.most} ({watch.peak.samples} reports), by the database "
            f"{in_db.most} ({in_db.samples} samples), by run times {by_runs}; "
            f"all ended {max(float(d['updated_at']) for d in docs.values()) - killed_at:.1f}s after the kill"
        )
        assert states == {"COMPLETED"}, states
        assert watch.peak.most <= LIMIT and in_db.most <= LIMIT and by_runs <= LIMIT
        assert watch.peak.samples > 100 and in_db.samples > 100
    finally:
        stop.set()
        stack.stop()
        await delete_park_queues(settings, KEY)
