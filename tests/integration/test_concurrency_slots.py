"""Slots of concurrency keys on the real store: taking is atomic, every way a job stops waiting or
running gives its slot back once, and the sweep frees what a crash left behind."""

from __future__ import annotations

import asyncio
import uuid

from laneyard.services.dispatcher.concurrency_sweep import free_stale
from laneyard.shared import lifecycle
from laneyard.shared.models import JobMessage
from laneyard.shared.reasons import Reason
from laneyard.shared.states import JobState
from laneyard.shared.store import concurrency_slots
from laneyard.shared.store.concurrency_slots import Took
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_record import JobRecord
from laneyard.shared.store.job_writes import JobWrites
from laneyard.shared.tiers import Tier

KEY = "db:reports"


def keyed_job(key: str = KEY) -> JobMessage:
    return JobMessage(
        id=uuid.uuid4().hex, task="demo.echo", args={}, lane="main", cluster="default", priority=5,
        tier=Tier.TINY, max_execution_time=60, concurrency_key=key,
    )  # fmt: skip


async def running(db: Database, key: str = KEY) -> int:
    return (await concurrency_slots.of_keys(db, [key]))[key].running


async def test_twenty_racing_takes_of_a_key_limited_to_three_get_three_slots(db: Database) -> None:
    ids = [f"job{i:04d}xx" for i in range(20)]
    took = await asyncio.gather(*(concurrency_slots.take(db, KEY, j, 3) for j in ids))
    assert took.count(Took.NEW) == 3 and took.count(Took.FULL) == 17
    holders = [j for j, t in zip(ids, took, strict=True) if t is Took.NEW]
    assert await running(db) == 3
    # Its message again (a redelivery): the same slot, not a second one.
    assert await concurrency_slots.take(db, KEY, holders[0], 3) is Took.HELD
    assert await concurrency_slots.release(db, KEY, holders[0])
    assert not await concurrency_slots.release(db, KEY, holders[0])
    assert await running(db) == 2
    assert await concurrency_slots.take(db, KEY, ids[-1], 3) is Took.NEW
    assert await concurrency_slots.take(db, "other", ids[0], 0) is Took.FULL


async def test_every_way_out_of_waiting_or_running_frees_the_slot(db: Database) -> None:
    writes = JobWrites(db)
    jobs = [keyed_job() for _ in range(4)]
    for job in jobs:
        assert await lifecycle.record(writes, job)
        assert await concurrency_slots.take(db, KEY, job.id, 10) is Took.NEW
        assert await lifecycle.mark_waiting(writes, job)
    finished, sent_back, cancelled, lost = jobs
    for job in (finished, lost):
        assert await lifecycle.start(writes, job, "runner-1")
    assert await running(db) == 4
    assert await lifecycle.finish(db, writes, finished, 1, "runner-1", JobState.COMPLETED, {"result": None})
    assert await lifecycle.send_back(db, sent_back)
    assert await lifecycle.cancel_queued(db, cancelled.id, 1)
    record = await db["jobs"].find_one({"_id": lost.id})
    assert record is not None
    assert await lifecycle.expire(db, JobRecord.of(record), lifecycle.Overstay(Reason.TIMEOUT_REAPED, "test"))
    assert await running(db) == 0


async def test_the_sweep_frees_old_slots_of_ended_jobs_only(db: Database) -> None:
    writes = JobWrites(db)
    ended, live = keyed_job(), keyed_job()
    for job in (ended, live):
        assert await lifecycle.record(writes, job)
        assert await lifecycle.mark_waiting(writes, job)
    assert await lifecycle.cancel_queued(db, ended.id, 1)  # took no slot: nothing to free
    long_ago = 1.0
    for job in (ended, live):
        assert await concurrency_slots.take(db, KEY, job.id, 10, now=long_ago) is Took.NEW
    assert await free_stale(db, now=1000.0, stale_after=15) == 1
    slots = (await concurrency_slots.of_keys(db, [KEY]))[KEY]
    assert slots.running == 1 and list(slots.holders) == [live.id]
