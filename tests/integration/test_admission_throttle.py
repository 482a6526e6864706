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


async def test_a_key_rate_holds_across_lanes_and_two_replicas_within_ten_percent(
    settings: Settings, db: Database, bus: Bus
) -> None:
    """Jobs of one fairness key in two lanes, admitted through two replicas, reach their lanes at the
    key's rate together; a job of another key is not held back."""
    rate, jobs, key = 60.0, 360, "tenant:acme"
    limited = settings.model_copy(
        update={"key_rates": f"tenant:a*=1000,{key}={rate:g}", "fairness_shards": 1}
    )
    lanes = ("keyed-a", "keyed-b")
    queues = [intake.queue_name(bus.names, lane, "default", key) for lane in lanes]
    queues += [bus.names.lane_shard_queue(lane, "default", 0) for lane in lanes]
    try:
        async with asyncio.timeout(150), replica(limited) as (first, _), replica(limited) as (second, _):
            channel, topology = await bus.consumer_channel(200)
            shards = [await topology.lane_shard_queue(lane, "default", 0) for lane in lanes]

            async def submit(i: int) -> Any:
                body = {**BODY, "lane": lanes[i % 2], "fairness_key": key}
                async with sem:
                    return await (first if i % 3 else second).admit(Submission.model_validate(body))

            sem = asyncio.Semaphore(32)
            # Lane a's queue also gets the one job of another key, admitted below.
            wanted = (jobs // 2 + 1, jobs // 2)
            receiving = [
                asyncio.create_task(drain(q, n, within=60)) for q, n in zip(shards, wanted, strict=True)
            ]
            started = time.monotonic()
            await asyncio.gather(*(submit(i) for i in range(jobs)))
            submit_rate = jobs / (time.monotonic() - started)
            waiting = [await message_count(settings, q) for q in queues[:2]]
            other = await first.admit(
                Submission.model_validate({**BODY, "lane": lanes[0], "fairness_key": "x"})
            )
            assert other.state == "IN_QUEUE"
            assert (
                await message_count(settings, intake.queue_name(bus.names, lanes[0], "default", "x")) is None
            )
            got = [*(await receiving[0]), *(await receiving[1])]
            arrived = sorted(at for at in got if at[1] != other.id)
            assert len(got) == len(arrived) + 1
            await channel.close()
    finally:
        await delete_queues(settings, *queues, *(bus.names.lane_queue(lane, "default") for lane in lanes))
    assert len(arrived) == jobs
    span = arrived[-1][0] - arrived[0][0]
    measured = (len(arrived) - 1) / span
    print(f"\nkey rate: configured {rate:g}/s, submitted at {submit_rate:.0f}/s through two replicas "
          f"into two lanes, moved at {measured:.1f}/s ({measured / rate - 1:+.1%})")  # fmt: skip
    assert 0.9 * rate <= measured <= 1.1 * rate
    # Held back in the key's intake queues, not simply unthrottled.
    assert all(n is not None for n in waiting) and sum(n or 0 for n in waiting) > jobs / 2


async def test_bad_key_rates_and_pauses_get_clear_errors(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus) as (client, _):
        for path, body in (
            ("/v1/rates/a b", {"per_second": 1}),
            ("/v1/rates/x", {"per_second": -1}),
            ("/v1/rates/x", {"per_second": True}),
            ("/v1/rates/x", {"rate": 1}),
        ):
            bad = await client.put(path, json=body)
            assert bad.status_code == 422, (path, body, bad.text)
        unknown = await client.post("/v1/lanes/main/pause", params={"cluster": "nowhere"})
        assert unknown.status_code == 404 and "unknown cluster" in unknown.json()["detail"]
        assert (await client.post("/v1/clusters/nowhere/pause")).status_code == 404
        assert (await client.post("/v1/lanes/Bad.Lane/pause")).status_code == 422
        assert (await client.put("/v1/rates/tenant:*", json={"per_second": 2.5})).json() == {
            "key": "tenant:*", "per_second": 2.5,
        }  # fmt: skip
        assert (await client.get("/v1/rates")).json()["rates"] == {"tenant:*": 2.5}
        assert (await client.get("/v1/pauses")).json() == {"pauses": []}
