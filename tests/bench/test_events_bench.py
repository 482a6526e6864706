"""The event stream: events per second from state write to client, the delay from a state write to
its event on a stream (p50/p95), and what staging the events costs the batched job writes."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time

import pytest

from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import event_intents
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites
from laneyard.shared.views.events import Event
from tests.bench.report import REPORT, ms
from tests.support.events import client, replica

pytestmark = [pytest.mark.bench, pytest.mark.timeout(600)]
EVENTS = "Event stream (GET /v1/events)"
JOBS = 1000  # x 4 state changes


def message(n: int, tag: str) -> JobMessage:
    return JobMessage(
        id=f"{tag}{n:08d}", task="demo.noop", args={}, lane="main", cluster="default", priority=5,
        tier="TINY", max_execution_time=30, submitted_at=time.time(),
    )  # fmt: skip


async def lifecycles(writes: JobWrites, jobs: list[JobMessage], db: Database, pace: float = 0.0) -> float:
    """Every job through IN_QUEUE, WAITING, RUNNING, COMPLETED, all at once; returns the seconds."""

    async def one(job: JobMessage) -> None:
        job.submitted_at = time.time()  # its IN_QUEUE time, which the delay is measured from
        await lifecycle.record(writes, job)
        await lifecycle.mark_waiting(writes, job)
        await lifecycle.start(writes, job, "r1")
        await lifecycle.finish(db, writes, job, 1, "r1", JobState.COMPLETED, {"result": None})

    started = time.perf_counter()
    if pace:
        tasks = []
        for job in jobs:
            tasks.append(asyncio.create_task(one(job)))
            await asyncio.sleep(pace)
        await asyncio.gather(*tasks)
    else:
        await asyncio.gather(*(one(job) for job in jobs))
    return time.perf_counter() - started


async def collect(url: str, count: int, into: list[tuple[float, Event]]) -> None:
    async with client(url) as c, contextlib.aclosing(c.events()) as stream:
        async for event in stream:
            into.append((time.time(), event))
            if len(into) == count:
                return


async def test_events_per_second_and_delay(
    settings: Settings, db: Database, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What staging costs the job writes: the same lifecycles without it.
    async def nothing(*_: object) -> None:
        return None

    with monkeypatch.context() as m:
        m.setattr(event_intents, "stage", nothing)
        m.setattr(event_intents, "withdraw", nothing)
        bare = await lifecycles(JobWrites(db), [message(n, "bare") for n in range(JOBS)], db)

    async with replica(settings, db, bus, events_poll_seconds=0.2) as url:
        got: list[tuple[float, Event]] = []
        watching = asyncio.create_task(collect(url, 4 * JOBS, got))
        await asyncio.sleep(0.5)
        staged = await lifecycles(JobWrites(db), [message(n, "flat") for n in range(JOBS)], db)
        await asyncio.wait_for(watching, 120)
        span = got[-1][0] - got[0][1].time.timestamp()
        REPORT.add(EVENTS, {
            "run": f"{JOBS} jobs x 4 changes at once",
            "events/s": f"{4 * JOBS / span:,.0f}",
            "job writes s (staged / not)": f"{staged:.2f} / {bare:.2f}",
            "delay p50 ms": "-", "delay p95 ms": "-",
        })  # fmt: skip

        # The delay at a steady 200 changes a second, on a stream of the replica that sequences.
        paced: list[tuple[float, Event]] = []
        watching = asyncio.create_task(collect(url, 4 * 200, paced))
        await asyncio.sleep(0.5)
        await lifecycles(JobWrites(db), [message(n, "paced") for n in range(200)], db, pace=0.02)
        await asyncio.wait_for(watching, 60)
        delays = sorted(seen - event.time.timestamp() for seen, event in paced)
        REPORT.add(EVENTS, {
            "run": "200 jobs x 4 changes, one job each 20 ms",
            "events/s": "-",
            "job writes s (staged / not)": "-",
            "delay p50 ms": ms(statistics.median(delays)),
            "delay p95 ms": ms(delays[int(0.95 * (len(delays) - 1))]),
        })  # fmt: skip
    print(REPORT.render())
