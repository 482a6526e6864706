"""Recovery of running jobs, on the real broker and database: what a runner does with a copy of a
job that is not WAITING, and how the dispatcher's reaper brings back jobs whose runner is gone,
ends jobs that overstay, and publishes re-queue messages a crash left unpublished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laneyard.services.dispatcher.reaper import Reaper
from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import Registry
from laneyard.services.runner.worker import Worker
from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import CapacityReport, JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import jobs, outbox
from laneyard.shared.store import runners as runner_store
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier
from tests.support.broker import message_count, unacked
from tests.support.waiting import wait_state, wait_terminal

registry = Registry()
ran: list[tuple[str, int]] = []


@registry.task("t.record")
async def record(ctx: TaskContext) -> dict[str, int]:
    ran.append((ctx.job_id, ctx.attempt))
    return {"attempt": ctx.attempt}


class CancelledWhileClaiming(Worker):
    """A cancel request that lands between the RUNNING write and the job's registration."""

    async def _claim(self, job: JobMessage) -> bool:
        claimed = await super()._claim(job)
        assert self.cancel(job.id)
        return claimed


def message(job_id: str, **fields: Any) -> JobMessage:
    base: dict[str, Any] = {
        "id": job_id, "task": "t.record", "args": {"k": 1}, "lane": "main", "cluster": "default",
        "priority": 0, "tier": Tier.TINY, "max_execution_time": 30,
    }  # fmt: skip
    return JobMessage(**{**base, **fields})


async def held_by(db: Database, job: JobMessage, attempt: int, runner: str, **fields: Any) -> None:
    await jobs.insert(db, job)
    started = fields.pop("started", time.time())
    running = {"state": "RUNNING", "attempt": attempt, "runner": runner}
    await db["jobs"].update_one(
        {"_id": job.id}, {"$set": {**running, f"timeline.{attempt}.RUNNING": started, **fields}}
    )


async def heartbeat(db: Database, runner_id: str, running: list[str], age: float = 0.0) -> None:
    report = CapacityReport(
        runner_id=runner_id, cluster="default", host="h", pid=1, cpu_millicores=1000, memory_mib=1024,
        slots=4, running={j: Tier.TINY for j in running},
    )  # fmt: skip
    await runner_store.record(db, report)
    await db["runners"].update_one({"_id": runner_id}, {"$set": {"last_seen": time.time() - age}})


@pytest.fixture
async def workers() -> AsyncIterator[list[Worker]]:
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


def reaper(settings: Settings, bus: Bus, db: Database) -> Reaper:
    return Reaper(bus, db, settings, held=lambda: True)


async def test_a_runner_acks_and_drops_a_copy_of_a_job_that_is_not_waiting(
    settings: Settings, bus: Bus, db: Database, workers: list[Worker]
) -> None:
    ran.clear()
    worker = await start(Worker, settings, bus, db, workers)
    copy = message("elsewhere")
    await held_by(db, copy, attempt=1, runner="other-runner")
    await bus.to_cluster(copy)
    # A copy it could not run anyway (no room) is dropped too, not sent back or dead-lettered.
    big = message("big-elsewhere").model_copy(update={"slots": 100})
    assert not worker.ledger.fits(big.tier, big.slots)
    await held_by(db, big, attempt=1, runner="other-runner")
    await bus.to_cluster(big)
    await asyncio.sleep(1.5)
    assert await message_count(settings, bus.names.cluster_queue("default")) == 0
    assert await message_count(settings, bus.names.lane_queue("main", "default")) in (None, 0)
    for job_id in ("elsewhere", "big-elsewhere"):
        doc = await jobs.get(db, job_id)
        assert doc is not None and (doc["state"], doc["runner"]) == ("RUNNING", "other-runner")
    assert ran == [] and await db["dead_letters"].count_documents({}) == 0


async def test_a_runner_acks_a_job_once_it_is_running(
    settings: Settings, bus: Bus, db: Database, workers: list[Worker]
) -> None:
    @registry.task("t.slow")
    async def slow(ctx: TaskContext, k: int) -> None:
        await asyncio.sleep(3)

    await start(Worker, settings, bus, db, workers)
    job = message("slow-one").model_copy(update={"task": "t.slow"})
    await jobs.insert(db, job)
    await db["jobs"].update_one({"_id": job.id}, {"$set": {"state": "WAITING"}})
    await bus.to_cluster(job)
    await wait_state(db, job.id, "RUNNING", within=10)
    await asyncio.sleep(0.5)
    # Running, and its message acked: nothing left in the queue, ready or unacknowledged.
    assert await unacked(settings, bus.names.cluster_queue("default")) == (0, 0)
    docs = await wait_terminal(db, {job.id}, within=20)
    assert docs[job.id]["state"] == "COMPLETED"


async def test_a_later_attempt_of_a_job_still_running_here_goes_back_to_its_lane(
    settings: Settings, bus: Bus, db: Database, workers: list[Worker]
) -> None:
    """Its runner's heartbeats were missed, so the reaper re-queued the job as attempt 2 while
    attempt 1 still runs here: attempt 2 must not be dropped as a copy (it would stay WAITING)."""

    @registry.task("t.long")
    async def long(ctx: TaskContext, k: int) -> None:
        await asyncio.sleep(4)

    worker = await start(Worker, settings, bus, db, workers)
    first = message("twice").model_copy(update={"task": "t.long"})
    await jobs.insert(db, first)
    await db["jobs"].update_one({"_id": first.id}, {"$set": {"state": "WAITING"}})
    await bus.to_cluster(first)
    await wait_state(db, first.id, "RUNNING", within=10)
    second = first.model_copy(update={"attempt": 2})
    await db["jobs"].update_one(
        {"_id": first.id}, {"$set": {"state": "WAITING", "attempt": 2, "runner": None}}
    )
    await bus.to_cluster(second)
    await wait_state(db, first.id, "IN_QUEUE", within=10)  # sent back, still attempt 2
    doc = await jobs.get(db, first.id)
    assert doc is not None and doc["attempt"] == 2
    assert worker.attempts == {first.id: 1}
    assert await message_count(settings, bus.names.cluster_queue("default")) == 0


async def test_the_reaper_requeues_fails_or_cancels_the_jobs_of_a_lost_runner(
    settings: Settings, bus: Bus, db: Database
) -> None:
    await heartbeat(db, "ghost", ["again", "spent", "asked"], age=60)
    await held_by(db, message("again", max_retries=3), attempt=2, runner="ghost")
    await held_by(db, message("spent", max_retries=1), attempt=2, runner="ghost")
    await held_by(db, message("asked", max_retries=3), attempt=1, runner="ghost", cancel_requested_at=1.0)
    await held_by(db, message("subtasks", max_retries=0), attempt=1, runner="ghost")
    await db["jobs"].update_one({"_id": "subtasks"}, {"$set": {"state": "AWAITING_SUBTASKS"}})
    await reaper(settings, bus, db).tick()

    again = await jobs.get(db, "again")
    assert again is not None and (again["state"], again["attempt"], again["lost_runner"]) == (
        "IN_QUEUE",
        3,
        "ghost",
    )
    assert again["runner"] is None and again["reason"] == "runner lost"
    spent = await jobs.get(db, "spent")
    assert spent is not None and (spent["state"], spent["reason"]) == ("ERROR", "runner lost")
    asked = await jobs.get(db, "asked")
    assert asked is not None and (asked["state"], asked["reason"]) == ("CANCELLED", "cancelled on request")
    waiting = await jobs.get(db, "subtasks")
    assert waiting is not None and waiting["state"] == "AWAITING_SUBTASKS"  # its sub-tasks finish it
    # The re-queued attempt has its message, and no intent is left over; the runner is forgotten.
    assert await message_count(settings, bus.names.lane_queue("main", "default")) == 1
    assert await db[outbox.COLLECTION].count_documents({}) == 0
    assert await db["runners"].count_documents({"_id": "ghost"}) == 0


async def test_the_reaper_leaves_live_runners_jobs_alone_but_ends_those_that_overstay(
    settings: Settings, bus: Bus, db: Database
) -> None:
    long_ago = time.time() - 3600
    await heartbeat(db, "alive", ["fine", "stuck", "silent"])
    await held_by(db, message("fine"), attempt=1, runner="alive")
    # Its limit was 30 s; an hour on, its runner still has not stopped it.
    await held_by(db, message("stuck"), attempt=1, runner="alive", started=long_ago)
    # It asked for a heartbeat every 5 s and never sent one.
    await held_by(
        db, message("silent", max_execution_time=7200), attempt=1, runner="alive",
        started=time.time() - 120, heartbeat_timeout=5.0,
    )  # fmt: skip
    await reaper(settings, bus, db).tick()
    fine, stuck, silent = [await jobs.get(db, j) for j in ("fine", "stuck", "silent")]
    assert fine is not None and fine["state"] == "RUNNING"
    assert stuck is not None and (stuck["state"], stuck["reason"]) == ("ERROR", "timeout (reaped)")
    assert silent is not None and (silent["state"], silent["reason"]) == ("ERROR", "heartbeat timeout")


async def test_the_reaper_finds_running_jobs_that_no_runner_holds(
    settings: Settings, bus: Bus, db: Database
) -> None:
    old = time.time() - 120
    # No heartbeat record at all (it was reaped already), and a live runner that no longer lists
    # a job it started long before its last report.
    await held_by(db, message("no-record", max_retries=1), attempt=1, runner="vanished", started=old)
    await heartbeat(db, "forgetful", [])
    await held_by(db, message("unlisted", max_retries=1), attempt=1, runner="forgetful", started=old)
    await held_by(db, message("young"), attempt=1, runner="vanished")
    r = reaper(settings, bus, db)
    r._orphans_at = -1e9  # due now
    await r.tick()
    for job_id in ("no-record", "unlisted"):
        doc = await jobs.get(db, job_id)
        assert doc is not None and (doc["state"], doc["attempt"]) == ("IN_QUEUE", 2), job_id
    young = await jobs.get(db, "young")
    assert young is not None and young["state"] == "RUNNING"  # started just now: give it a heartbeat


async def test_a_requeue_cut_short_before_its_publish_is_published_by_the_sweeper(
    settings: Settings, bus: Bus, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = message("cut-short", max_retries=2)
    await held_by(db, job, attempt=1, runner="r1")

    async def dies(*_: Any) -> None:
        raise ConnectionError("the dispatcher was killed between the state write and the publish")

    monkeypatch.setattr(lifecycle, "publish", dies)
    with pytest.raises(ConnectionError):
        await lifecycle.requeue(db, bus, job, attempt=1, next_attempt=2, holder="r1")
    monkeypatch.undo()
    doc = await jobs.get(db, job.id)
    assert doc is not None and (doc["state"], doc["attempt"]) == ("IN_QUEUE", 2)
    assert await message_count(settings, bus.names.lane_queue("main", "default")) in (None, 0)
    # Too fresh to be taken for abandoned: its writer may still be at work.
    assert await lifecycle.sweep_outbox(db, bus, republish_after=60, give_up_after=60) == 0
    assert await lifecycle.sweep_outbox(db, bus, republish_after=0, give_up_after=60) == 1
    assert await message_count(settings, bus.names.lane_queue("main", "default")) == 1
    assert await db[outbox.COLLECTION].count_documents({}) == 0

    # An intent whose state change never happened is dropped once its writer cannot be at work.
    other = message("never-moved")
    await held_by(db, other, attempt=1, runner="r1")
    await outbox.write(
        db, other.model_copy(update={"attempt": 2}), delay_ms=0, expect={"state": "IN_QUEUE", "attempt": 2}
    )
    assert await lifecycle.sweep_outbox(db, bus, republish_after=0, give_up_after=60) == 0
    assert await db[outbox.COLLECTION].count_documents({}) == 1
    assert await lifecycle.sweep_outbox(db, bus, republish_after=0, give_up_after=0) == 0
    assert await db[outbox.COLLECTION].count_documents({}) == 0


async def test_a_cancel_that_comes_while_the_job_is_claimed_stops_it(
    settings: Settings, bus: Bus, db: Database, workers: list[Worker]
) -> None:
    ran.clear()
    worker = await start(CancelledWhileClaiming, settings, bus, db, workers)
    job = message("racing")
    await jobs.insert(db, job)
    await db["jobs"].update_one({"_id": job.id}, {"$set": {"state": "WAITING"}})
    await bus.to_cluster(job)
    docs = await wait_terminal(db, {"racing"}, within=20)
    assert (docs["racing"]["state"], docs["racing"]["reason"]) == ("CANCELLED", "cancelled on request")
    assert "RUNNING" in docs["racing"]["timeline"]["1"]
    assert ran == [] and worker.starting == {} and worker.active == {}
