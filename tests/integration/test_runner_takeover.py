"""A runner (in this process, on the real broker and database) taking over jobs of lost runners:
after two runners were lost in a row, when a cancel was asked while the holder was gone, and
when the cancel request arrives while the job is being marked RUNNING."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import Registry
from laneyard.services.runner.worker import Worker
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier
from tests.support.broker import message_count
from tests.support.waiting import wait_terminal

registry = Registry()
ran: list[tuple[str, int]] = []


@registry.task("t.record")
async def record(ctx: TaskContext) -> dict[str, int]:
    ran.append((ctx.job_id, ctx.attempt))
    return {"attempt": ctx.attempt}


class CancelledWhileMarking(Worker):
    """A cancel request that lands between the RUNNING write and the job's registration."""

    async def _mark_running(self, job: JobMessage, redelivered: bool | None) -> int | None:
        attempt = await super()._mark_running(job, redelivered)
        assert self.cancel(job.id)
        return attempt


def message(job_id: str, **fields: Any) -> JobMessage:
    return JobMessage(
        id=job_id, task="t.record", args={}, lane="main", cluster="default", priority=0,
        tier=Tier.TINY, max_execution_time=30, **fields,
    )  # fmt: skip


async def held_by_a_lost_runner(db: Database, job: JobMessage, attempt: int, **fields: Any) -> None:
    await jobs.insert(db, job)
    running = {"state": "RUNNING", "attempt": attempt, "runner": "ghost"}
    await db["jobs"].update_one(
        {"_id": job.id}, {"$set": {**running, f"timeline.{attempt}.RUNNING": time.time(), **fields}}
    )


@pytest.fixture
async def worker_cls() -> AsyncIterator[list[Worker]]:
    started: list[Worker] = []
    yield started
    for w in started:
        await w.stop_consuming()
        w.pool.shutdown(wait=False)


async def start(
    cls: type[Worker], settings: Settings, bus: Bus, db: Database, started: list[Worker]
) -> Worker:
    worker = cls(settings, bus, db, registry)
    await worker.start()
    started.append(worker)
    return worker


async def test_a_job_whose_runner_was_lost_twice_is_taken_over_again(
    settings: Settings, bus: Bus, db: Database, worker_cls: list[Worker]
) -> None:
    ran.clear()
    await start(Worker, settings, bus, db, worker_cls)
    # Runner A ran attempt 1 and was lost; runner B took it over (attempt 2) from the same message
    # and was lost too. That message, attempt 1 in its body, is all that is left of the job.
    job = message("twice", max_retries=3)
    await held_by_a_lost_runner(db, job, attempt=2, lost_runner="A")
    await bus.to_cluster(job)
    docs = await wait_terminal(db, {"twice"}, within=20)
    assert docs["twice"]["state"] == "COMPLETED" and docs["twice"]["attempt"] == 3, docs
    assert ran == [("twice", 3)]

    # Out of retries: it ends ERROR "runner lost" instead of running again.
    spent = message("spent", max_retries=1)
    await held_by_a_lost_runner(db, spent, attempt=2)
    await bus.to_cluster(spent)
    docs = await wait_terminal(db, {"spent"}, within=20)
    assert (docs["spent"]["state"], docs["spent"]["reason"]) == ("ERROR", "runner lost")
    assert ran == [("twice", 3)]


async def test_a_cancel_asked_while_the_runner_was_gone_is_honoured_at_takeover(
    settings: Settings, bus: Bus, db: Database, worker_cls: list[Worker]
) -> None:
    ran.clear()
    await start(Worker, settings, bus, db, worker_cls)
    job = message("asked", max_retries=3)
    await held_by_a_lost_runner(db, job, attempt=1, cancel_requested_at=time.time())
    await bus.to_cluster(job)
    docs = await wait_terminal(db, {"asked"}, within=20)
    assert (docs["asked"]["state"], docs["asked"]["reason"]) == ("CANCELLED", "cancelled on request")
    assert ran == []


async def test_a_cancel_that_comes_while_the_job_is_marked_running_stops_it(
    settings: Settings, bus: Bus, db: Database, worker_cls: list[Worker]
) -> None:
    ran.clear()
    worker = await start(CancelledWhileMarking, settings, bus, db, worker_cls)
    job = message("racing")
    await jobs.insert(db, job)
    await db["jobs"].update_one({"_id": job.id}, {"$set": {"state": "WAITING"}})
    await bus.to_cluster(job)
    docs = await wait_terminal(db, {"racing"}, within=20)
    assert (docs["racing"]["state"], docs["racing"]["reason"]) == ("CANCELLED", "cancelled on request")
    assert "RUNNING" in docs["racing"]["timeline"]["1"]
    assert ran == [] and worker.starting == {} and worker.active == {}


async def test_a_full_runner_keeps_a_lost_runners_job_in_the_cluster_queue(
    settings: Settings, bus: Bus, db: Database, worker_cls: list[Worker]
) -> None:
    # The 10,000-job chaos run lost a job so: its runner was killed, the redelivered copy went to
    # a runner without room, which sent it back to its lane, where the dispatcher dropped it as
    # stale (the job was RUNNING). The job stayed RUNNING under a dead runner for good.
    worker = await start(Worker, settings, bus, db, worker_cls)
    big = message("no-room-here").model_copy(update={"tier": Tier.XHUGE})
    assert not worker.ledger.fits(big.tier)
    await held_by_a_lost_runner(db, big, attempt=1)
    await bus.to_cluster(big)
    await asyncio.sleep(2 * settings.delay_min_ms / 1000 + 1.0)
    assert await message_count(settings, bus.names.lane_queue("main", "default")) in (None, 0)
    await worker.stop_consuming()
    await asyncio.sleep(settings.heartbeat_seconds)  # its copy, nacked back to the queue
    assert await message_count(settings, bus.names.cluster_queue("default")) == 1
    doc = await jobs.get(db, "no-room-here")
    assert doc is not None and (doc["state"], doc["runner"]) == ("RUNNING", "ghost")
