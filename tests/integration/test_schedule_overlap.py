"""Overlap policies and catch-up on the schedule loop with a real broker and database: skip records
the skipped fire, buffer_one starts the kept fire when the run ends, cancel_other cancels the run,
catch_up all makes up the latest missed fires."""

from __future__ import annotations

import time
from typing import Any

from laneyard.services.dispatcher.schedules import ScheduleLoop
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.schedule_overlap import Overlap
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import jobs, schedules
from laneyard.shared.store.database import Database, Doc

TEMPLATE = {"task": "demo.noop", "tier": "TINY", "args": {}}


def loop_of(bus: Bus, db: Database, settings: Settings) -> ScheduleLoop:
    return ScheduleLoop(Admitter(bus, db, settings.max_args_bytes), db, lambda: True, tick_timeout=30.0)


async def add(db: Database, overlap: Overlap, **fields: Any) -> str:
    sid = schedules.new_id()
    doc = schedules.new_schedule_doc(
        schedule_id=sid, name=None, job=TEMPLATE, kind="every", every=60.0,
        next_run_at=schedules.ms(time.time() - 1), overlap=overlap, **fields,
    )  # fmt: skip
    await schedules.insert(db, doc)
    return sid


async def due_again(db: Database, sid: str, ago: float = 1.0) -> float:
    at = schedules.ms(time.time() - ago)
    await db["schedules"].update_one({"_id": sid}, {"$set": {"next_run_at": at}})
    return at


async def jobs_of(db: Database, sid: str) -> list[Doc]:
    return await db["jobs"].find({"schedule_id": sid}).sort("created_at", 1).to_list()


async def cancel(db: Database, job_id: str) -> None:
    await jobs.transition(db, job_id, sources={JobState.IN_QUEUE}, target=JobState.CANCELLED, attempt=1)


async def test_skip_records_the_fire_and_starts_nothing_while_the_run_is_unfinished(
    settings: Settings, db: Database, bus: Bus
) -> None:
    loop = loop_of(bus, db, settings)
    sid = await add(db, Overlap.SKIP)
    assert await loop.tick(time.time()) == 1
    [first] = await jobs_of(db, sid)
    assert first["labels"]["laneyard.run"] == "scheduled" and "laneyard.fire_at" in first["labels"]
    skipped_at = await due_again(db, sid)
    assert await loop.tick(time.time()) == 0
    doc = await schedules.get(db, sid)
    assert doc is not None and doc["skips"] == 1 and doc["next_run_at"] > time.time()
    assert doc["skipped"][0]["fire_at"] == skipped_at and first["_id"] in doc["skipped"][0]["reason"]
    await cancel(db, first["_id"])
    await due_again(db, sid)
    assert await loop.tick(time.time()) == 1
    assert len(await jobs_of(db, sid)) == 2


async def test_buffer_one_keeps_one_fire_and_starts_it_when_the_run_ends(
    settings: Settings, db: Database, bus: Bus
) -> None:
    loop = loop_of(bus, db, settings)
    sid = await add(db, Overlap.BUFFER_ONE)
    assert await loop.tick(time.time()) == 1
    kept_at = await due_again(db, sid, ago=2.0)
    assert await loop.tick(time.time()) == 0
    await due_again(db, sid)
    assert await loop.tick(time.time()) == 0  # a second overlapping fire: skipped, one is kept
    doc = await schedules.get(db, sid)
    assert doc is not None and doc["buffered"] and doc["buffer"]["at"] == kept_at and doc["skips"] == 1
    [first] = await jobs_of(db, sid)
    await cancel(db, first["_id"])
    assert await loop.tick(time.time()) == 1
    assert await loop.tick(time.time()) == 0
    made = await jobs_of(db, sid)
    assert len(made) == 2 and made[1]["idempotency_key"] == schedules.fire_key(sid, kept_at)
    doc = await schedules.get(db, sid)
    assert doc is not None and not doc["buffered"] and doc["buffer"] is None
    assert [r["fire_at"] for r in doc["runs"]][-1] == kept_at and doc["fires"] == 2


async def test_cancel_other_cancels_the_unfinished_run_and_starts_the_new_one(
    settings: Settings, db: Database, bus: Bus
) -> None:
    loop = loop_of(bus, db, settings)
    sid = await add(db, Overlap.CANCEL_OTHER)
    assert await loop.tick(time.time()) == 1
    await due_again(db, sid)
    assert await loop.tick(time.time()) == 1
    first, second = await jobs_of(db, sid)
    assert first["state"] == JobState.CANCELLED and second["state"] == JobState.IN_QUEUE


async def test_catch_up_all_makes_up_the_latest_missed_fires_within_the_limit(
    settings: Settings, db: Database, bus: Bus
) -> None:
    loop = loop_of(bus, db, settings)
    sid = await add(db, Overlap.ALLOW, catch_up="all", catch_up_limit=3)
    # Due 5.5 periods ago: six fire times missed, the latest three are made up, one per tick.
    await due_again(db, sid, ago=60.0 * 5 + 30)
    fired = [await loop.tick(time.time()) for _ in range(6)]
    assert fired == [0, 1, 1, 1, 0, 0]
    doc = await schedules.get(db, sid)
    assert doc is not None and doc["skips"] == 1 and "catch_up_limit" in doc["skipped"][0]["reason"]
    assert time.time() < doc["next_run_at"] <= time.time() + 60
    assert len({j["idempotency_key"] for j in await jobs_of(db, sid)}) == 3


async def test_end_at_finishes_the_schedule(settings: Settings, db: Database, bus: Bus) -> None:
    loop = loop_of(bus, db, settings)
    sid = await add(db, Overlap.ALLOW, end_at=time.time() + 30)
    assert await loop.tick(time.time()) == 1
    doc = await schedules.get(db, sid)
    assert doc is not None and doc["next_run_at"] is None and "end_at" in doc["finished_reason"]
