"""Admission rate limits: jobs over the rate wait in RabbitMQ, lanes do not hold each other back, and
two replicas together keep to the configured rate."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aio_pika

from laneyard.services.admission.throttling.mover import Movers
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage, Submission
from laneyard.shared.settings import Settings
from laneyard.shared.store import throttle
from laneyard.shared.store.database import Database, connect
from laneyard.shared.throttling import intake
from laneyard.shared.throttling.rates import RateBook
from tests.support.admission import api
from tests.support.broker import delete_queues, message_count

BODY = {"task": "demo.noop", "tier": "TINY"}


@contextlib.asynccontextmanager
async def replica(settings: Settings) -> AsyncIterator[tuple[Admitter, Movers]]:
    """One admission replica: its own broker connection, database client, rate book and movers."""
    bus = Bus(settings)
    await bus.connect()
    client, db = connect(settings)
    rates = RateBook(db, settings)
    movers = Movers(bus, db, rates, settings.throttle_window_seconds, refresh=0.5)
    admitter = Admitter(bus, db, 10_000, rates=rates, on_intake=movers.ensure)
    await movers.start()
    try:
        yield admitter, movers
    finally:
        await movers.stop()
        await bus.close()
        await client.close()


async def cleanup(settings: Settings, bus: Bus, *lanes: str) -> None:
    names = [bus.names.lane_queue(lane, "default") for lane in lanes]
    names += [intake.queue_name(bus.names, lane, "default") for lane in lanes]
    await delete_queues(settings, *names, exchanges=(intake.exchange_name(bus.names),))


async def drain(queue: aio_pika.abc.AbstractQueue, count: int, within: float) -> list[tuple[float, str]]:
    """(arrival time, job id) of up to ``count`` messages, consumed as they arrive."""
    got: list[tuple[float, str]] = []
    done = asyncio.Event()

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        got.append((time.monotonic(), JobMessage.model_validate_json(message.body).id))
        if len(got) >= count:
            done.set()
        await message.ack()

    tag = await asyncio.wait_for(queue.consume(on_message), 10)
    try:
        await asyncio.wait_for(done.wait(), within)
    except TimeoutError:
        pass
    finally:
        await asyncio.wait_for(queue.cancel(tag), 10)
    return got


async def test_window_counter_never_hands_out_more_than_the_limit(db: Database) -> None:
    grants = await asyncio.gather(*(throttle.take(db, "lane:x", 7, 10, 3) for _ in range(20)))
    assert sum(grants) == 10
    assert await throttle.take(db, "lane:x", 7, 10, 1) == 0
    assert await throttle.take(db, "lane:x", 8, 10, 4) == 4  # a new window starts from zero
    assert await throttle.take(db, "lane:x", 7, 10, 1) == 0  # an old window is closed
    await throttle.give_back(db, "lane:x", 8, 2)
    assert await throttle.take(db, "lane:x", 8, 10, 10) == 8
    # What a window leaves unused carries over to the next one only, at most one window's worth.
    assert await throttle.take(db, "lane:x", 20, 10, 4, previous_limit=10) == 4
    assert await throttle.take(db, "lane:x", 21, 10, 30, previous_limit=10) == 16
    assert await throttle.take(db, "lane:x", 23, 10, 30, previous_limit=10) == 10


async def test_a_held_lane_keeps_its_jobs_in_rabbitmq_and_holds_back_no_other(
    settings: Settings, db: Database, bus: Bus
) -> None:
    held = settings.model_copy(update={"lane_rates": "slow=0"})
    try:
        async with replica(held) as (admitter, _), api(held, db, bus) as (client, _):
            slow_ids = []
            for i in range(6):
                slow = await admitter.admit(Submission.model_validate({**BODY, "lane": "slow"}))
                slow_ids.append(slow.id)
                fast = await admitter.admit(Submission.model_validate({**BODY, "lane": "main"}))
                assert slow.state == fast.state == "IN_QUEUE", i
            assert await message_count(settings, bus.names.lane_queue("main", "default")) == 6
            assert await message_count(settings, bus.names.lane_queue("slow", "default")) == 0
            assert await message_count(settings, intake.queue_name(bus.names, "slow", "default")) == 6
            lanes = {(r["lane"], r["cluster"]): r for r in (await client.get("/v1/status")).json()["lanes"]}
            assert lanes[("slow", "default")] == {
                "lane": "slow",
                "cluster": "default",
                "queued": 0,
                "throttled": 6,
            }

            put = await client.put("/v1/throttles/lanes/slow", json={"rate": 1000})
            assert put.status_code == 200 and put.json()["rate"] == 1000
            shown = (await client.get("/v1/throttles")).json()
            assert shown["lanes"] == {"slow": 1000.0}
            channel, topology = await bus.consumer_channel(50)
            arrived = await drain(await topology.lane_queue("slow", "default"), 6, within=15)
            await channel.close()
            assert [job_id for _, job_id in arrived] == slow_ids  # released in submission order

            assert (await client.delete("/v1/throttles/lanes/slow")).status_code == 204
            assert (await client.get("/v1/throttles")).json()["lanes"] == {"slow": 0.0}
            bad = await client.put("/v1/throttles/lanes/slow", json={"rate": -1})
            assert bad.status_code == 422
    finally:
        await cleanup(settings, bus, "slow")


async def test_two_replicas_together_keep_within_ten_percent_of_the_rate(
    settings: Settings, db: Database, bus: Bus
) -> None:
    rate, jobs = 60.0, 360  # six seconds of moving
    limited = settings.model_copy(update={"lane_rates": f"bulk={rate:g}"})
    try:
        # A bound well inside pytest's: a hang fails here, with the await that did not return.
        async with asyncio.timeout(150), replica(limited) as (first, _), replica(limited) as (second, _):
            channel, topology = await bus.consumer_channel(200)
            lane = await topology.lane_queue("bulk", "default")
            sub = Submission.model_validate({**BODY, "lane": "bulk"})
            sem = asyncio.Semaphore(32)

            async def submit(i: int) -> Any:
                async with sem:
                    return await (first if i % 2 else second).admit(sub)

            receiving = asyncio.create_task(drain(lane, jobs, within=60))
            started = time.monotonic()
            await asyncio.gather(*(submit(i) for i in range(jobs)))
            submit_rate = jobs / (time.monotonic() - started)
            moved_while_submitting = await message_count(
                settings, intake.queue_name(bus.names, "bulk", "default")
            )
            arrived = await receiving
            await channel.close()
    finally:
        await cleanup(settings, bus, "bulk")
    assert len(arrived) == jobs
    span = arrived[-1][0] - arrived[0][0]
    measured = (len(arrived) - 1) / span
    print(f"\nthrottle: configured {rate:g}/s, submitted at {submit_rate:.0f}/s through two replicas, "
          f"moved at {measured:.1f}/s ({measured / rate - 1:+.1%}) over {span:.1f} s")  # fmt: skip
    assert 0.9 * rate <= measured <= 1.1 * rate
    # Not simply unthrottled: most jobs were still waiting in the intake queue when submission ended.
    assert moved_while_submitting is not None and moved_while_submitting > jobs / 2
