"""``GET /v1/events`` against real RabbitMQ and the database: every state change on the stream in
order, the same events with the same numbers from two admission replicas, a reconnect with
Last-Event-ID that misses and repeats nothing, and what a limited key and bad requests get."""

from __future__ import annotations

import asyncio
import time

import httpx

from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.embedded.mongo import free_port
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import event_intents, job_record
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites
from laneyard.shared.views.events import Event
from tests.support.events import client, events_in, replica, sequenced, take

RUN = [JobState.IN_QUEUE, JobState.WAITING, JobState.RUNNING, JobState.COMPLETED]


async def submit(url: str, count: int, lane: str = "main") -> list[str]:
    async with client(url) as c:
        return [(await c.submit("demo.noop", lane=lane)).id for _ in range(count)]


async def run_through(db: Database, writes: JobWrites, job_ids: list[str]) -> None:
    """What a dispatcher and a runner write for each job, through the lifecycle."""
    for job_id in job_ids:
        record = await job_record.read(db, job_id)
        assert record is not None
        job = record.message()
        assert await lifecycle.mark_waiting(writes, job)
        assert await lifecycle.start(writes, job, "runner-1")
        assert await lifecycle.finish(db, writes, job, 1, "runner-1", JobState.COMPLETED, {"result": None})


def states_of(events: list[Event], job_id: str) -> list[JobState]:
    return [e.state for e in events if e.id == job_id]


async def test_two_replicas_stream_every_change_in_order_with_the_same_numbers(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with (
        replica(settings, db, bus) as one,
        replica(settings, db, bus, http_port=free_port()) as two,
    ):
        watching = [asyncio.create_task(take(url, 4 * 3)) for url in (one, two)]
        await asyncio.sleep(0.5)  # both streams open (each starts at the present)
        job_ids = await submit(one, 3)
        await run_through(db, JobWrites(db), job_ids)
        from_one, from_two = await asyncio.gather(*watching)

    assert [(e.event_id, e.id, e.state) for e in from_one] == [(e.event_id, e.id, e.state) for e in from_two]
    ids = [e.event_id for e in from_one]
    assert ids == list(range(ids[0], ids[0] + 12))
    for job_id in job_ids:
        assert states_of(from_one, job_id) == RUN
    done = [e for e in from_one if e.state is JobState.COMPLETED]
    assert {e.runner for e in done} == {"runner-1"} and {e.task for e in done} == {"demo.noop"}


async def test_a_reconnect_with_last_event_id_misses_and_repeats_nothing(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with (
        replica(settings, db, bus) as one,
        replica(settings, db, bus, http_port=free_port()) as two,
    ):
        writes = JobWrites(db)
        first_jobs = await submit(one, 2)
        await run_through(db, writes, first_jobs)
        before = await take(one, 5, after=0)  # part of what happened, then the client goes away
        later_jobs = await submit(two, 2)  # changes while it is away
        await run_through(db, writes, later_jobs)
        rest = await take(two, 16 - 5, after=before[-1].event_id)  # back, on the other replica

    seen = before + rest
    assert [e.event_id for e in seen] == list(range(1, 17))
    for job_id in first_jobs + later_jobs:
        assert states_of(seen, job_id) == RUN


async def test_the_stream_keeps_to_the_keys_grant_and_refuses_bad_requests(
    settings: Settings, db: Database, bus: Bus
) -> None:
    keys = "tenant:read lanes=reports;writer:submit,read"
    async with replica(settings, db, bus, api_keys=keys, events_max_streams=1) as url:
        async with client(url, "writer") as c:
            mine = await c.submit("demo.noop", lane="reports", labels={"team": "a"})
            await c.submit("demo.noop", lane="main")
        await sequenced(db)
        async with httpx.AsyncClient(base_url=url, timeout=10) as http:
            caught_up = {"follow": "false", "last_event_id": "0"}
            tenant = {"Authorization": "Bearer tenant"}
            seen = events_in(await http.get("/v1/events", params=caught_up, headers=tenant))
            assert [(e.id, e.lane) for e in seen] == [(mine.id, "reports")]
            writer = {"Authorization": "Bearer writer"}
            by_label = {**caught_up, "label": "team:a"}
            assert [
                e.id for e in events_in(await http.get("/v1/events", params=by_label, headers=writer))
            ] == [mine.id]
            assert (await http.get("/v1/events", params={"lane": "main"}, headers=tenant)).status_code == 403
            assert (await http.get("/v1/events", headers={})).status_code == 401
            bad = await http.get("/v1/events", headers={**tenant, "Last-Event-ID": "12abc"})
            assert bad.status_code == 400 and "Last-Event-ID" in bad.json()["detail"]

            # One stream at most on this replica: a second is told so.
            async with http.stream("GET", "/v1/events", headers=tenant) as held:
                assert held.status_code == 200
                second = await http.get("/v1/events", headers=tenant)
                assert second.status_code == 503 and "event streams" in second.json()["detail"]


async def test_a_change_that_never_happened_is_dropped_once_settled(db: Database) -> None:
    staged_at = time.time() - 5  # a writer that died before its state write, five seconds ago
    await event_intents.stage(db, [event_intents.intent("ghost", 1, JobState.WAITING, staged_at)])
    assert await sequenced(db, settle_seconds=3600) == 0
    assert len(await event_intents.oldest(db, 10)) == 1  # it may still be on its way
    assert await sequenced(db, settle_seconds=2) == 0
    assert await event_intents.oldest(db, 10) == []
