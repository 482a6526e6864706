"""The schedule loop on a real broker and database: one job per fire time with two loops racing,
one catch-up fire after downtime, last_completed_at, start_after, and a refused fire."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aio_pika

from laneyard.services.dispatcher.schedules import ScheduleLoop
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage, Submission
from laneyard.shared.schedule_overlap import Overlap
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import clusters, jobs, schedules
from laneyard.shared.store.database import Database, Doc

TEMPLATE = {"task": "demo.noop", "tier": "TINY", "args": {"n": 1}}


def loop_of(bus: Bus, db: Database, settings: Settings) -> ScheduleLoop:
    admitter = Admitter(bus, db, settings.max_args_bytes)
    return ScheduleLoop(admitter, db, lambda: True, tick_timeout=30.0)


async def add(db: Database, next_run_at: float, **when: Any) -> str:
    sid = schedules.new_id()
    kind = next(k for k in ("every", "cron", "start_after") if k in when)
    await schedules.insert(
        db,
        schedules.new_schedule_doc(
            schedule_id=sid,
            name=None,
            job=TEMPLATE,
            kind=kind,
            next_run_at=next_run_at,
            overlap=Overlap.ALLOW,
            **when,
        ),
    )
    return sid


async def jobs_of(db: Database, sid: str) -> list[Doc]:
    return await db["jobs"].find({"schedule_id": sid}).sort("created_at", 1).to_list()


async def complete(db: Database, job_id: str) -> float:
    for source, target in (
        (JobState.IN_QUEUE, JobState.WAITING),
        (JobState.WAITING, JobState.RUNNING),
        (JobState.RUNNING, JobState.COMPLETED),
    ):
        doc = await jobs.transition(db, job_id, sources={source}, target=target, attempt=1)
    assert doc is not None
    return float(doc["timeline"]["1"]["COMPLETED"])


async def test_two_loops_racing_submit_one_job_per_fire(settings: Settings, db: Database, bus: Bus) -> None:
    first, second = loop_of(bus, db, settings), loop_of(bus, db, settings)
    now = time.time()
    sids = [await add(db, now + 60, every=1.0) for _ in range(5)]
    for round_ in range(4):
        # Every schedule due at a new fire time in the past, instead of waiting a second per round.
        await db["schedules"].update_many({}, {"$set": {"next_run_at": schedules.ms(now - 10 - round_)}})
        await asyncio.gather(first.tick(time.time()), second.tick(time.time()))
    for sid in sids:
        made = await jobs_of(db, sid)
        keys = [j["idempotency_key"] for j in made]
        assert len(made) == 4 and len(set(keys)) == 4, keys
        doc = await schedules.get(db, sid)
        assert doc is not None and doc["fires"] == 4 and doc["last_job_id"] == made[-1]["_id"]
    print(f"fired by the first loop {first.fired}, by the second {second.fired}")
    assert first.fired + second.fired == 20


async def test_catch_up_fires_once_and_jobs_carry_last_completed_at(
    settings: Settings, db: Database, bus: Bus
) -> None:
    loop = loop_of(bus, db, settings)
    missed_since = schedules.ms(time.time() - 30.0)
    sid = await add(db, missed_since, every=2.0)
    assert await loop.tick(time.time()) == 1
    assert await loop.tick(time.time()) == 0
    [job1] = await jobs_of(db, sid)
    assert job1["last_completed_at"] is None and job1["schedule_id"] == sid
    doc = await schedules.get(db, sid)
    assert doc is not None and doc["last_fire_at"] == missed_since
    assert time.time() < doc["next_run_at"] <= time.time() + 2.0
    assert doc["open_jobs"] == [job1["_id"]] and doc["watching"]

    stamp = await complete(db, job1["_id"])
    await db["schedules"].update_one({"_id": sid}, {"$set": {"next_run_at": time.time() - 0.01}})
    assert await loop.tick(time.time()) == 1
    job2 = (await jobs_of(db, sid))[-1]
    assert job2["last_completed_at"] == stamp
    doc = await schedules.get(db, sid)
    assert doc is not None and doc["last_completed_at"] == stamp and doc["open_jobs"] == [job2["_id"]]

    # The message in the lane carries it too, for the runner to hand to the task.
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(bus.names.lane_queue("main", "default"), passive=True)
        messages = []
        while (message := await queue.get(no_ack=True, fail=False)) is not None:
            messages.append(JobMessage.model_validate_json(message.body))
    finally:
        await connection.close()
    carried = {m.id: (m.schedule_id, m.last_completed_at) for m in messages}
    assert carried == {job1["_id"]: (sid, None), job2["_id"]: (sid, stamp)}

    # A job that fails leaves last_completed_at where it was, and is no longer watched.
    await jobs.transition(db, job2["_id"], sources={JobState.IN_QUEUE}, target=JobState.CANCELLED, attempt=1)
    await loop.tick(time.time())
    doc = await schedules.get(db, sid)
    assert doc is not None and doc["last_completed_at"] == stamp
    assert doc["open_jobs"] == [] and not doc["watching"]


async def test_start_after_fires_once_when_its_job_ends(settings: Settings, db: Database, bus: Bus) -> None:
    loop = loop_of(bus, db, settings)
    admitter = loop.admitter
    upstream = (await admitter.admit(Submission.model_validate(TEMPLATE))).id
    failing = (await admitter.admit(Submission.model_validate(TEMPLATE))).id
    now = time.time()
    on_completed = await add(db, now, start_after=upstream, on="completed")
    on_any = await add(db, now, start_after=failing, on="any")
    skipped = await add(db, now, start_after=failing, on="completed")

    assert await loop.tick(time.time() + 0.1) == 0  # neither job has ended yet
    assert (await schedules.get(db, on_completed) or {})["next_run_at"] > time.time()
    await complete(db, upstream)
    await jobs.transition(db, failing, sources={JobState.IN_QUEUE}, target=JobState.CANCELLED, attempt=1)
    assert await loop.tick(time.time() + 5.0) == 2
    assert await loop.tick(time.time() + 10.0) == 0
    for sid in (on_completed, on_any):
        assert len(await jobs_of(db, sid)) == 1
        doc = await schedules.get(db, sid)
        assert doc is not None and doc["next_run_at"] is None and "fired after job" in doc["finished_reason"]
    assert await jobs_of(db, skipped) == []
    doc = await schedules.get(db, skipped)
    assert doc is not None and doc["next_run_at"] is None and "CANCELLED" in doc["finished_reason"]


async def test_a_refused_fire_is_skipped_with_the_reason_shown(
    settings: Settings, db: Database, bus: Bus
) -> None:
    loop = loop_of(bus, db, settings)
    gone = await clusters.create(db, "gone")
    sid = schedules.new_id()
    template = {**TEMPLATE, "cluster": gone["_id"]}
    await schedules.insert(
        db,
        schedules.new_schedule_doc(
            schedule_id=sid, name=None, job=template, kind="every", every=60.0, next_run_at=time.time()
        ),
    )
    await db["clusters"].delete_one({"_id": gone["_id"]})
    assert await loop.tick(time.time()) == 0
    doc = await schedules.get(db, sid)
    assert doc is not None and "404" in doc["last_error"] and gone["_id"] in doc["last_error"]
    assert doc["next_run_at"] > time.time() + 50 and doc["fires"] == 0
