"""A fair lane's queues taken in turn (services/dispatcher/fair_lane.py), against a real RabbitMQ.

The handler stands in for the dispatcher's: a job goes if there is room (a token), else the lane
is held back until room comes, as a capacity report would let it go.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from aio_pika.abc import AbstractIncomingMessage

from laneyard.services.dispatcher.lane_consumers import LaneConsumers
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from tests.support.broker import delete_topology
from tests.support.fairness import delete_shards, distinct_keys, until

SHARDS = 8


def job(job_id: str, key: str | None, priority: int = 5) -> JobMessage:
    return JobMessage(id=job_id, task="demo.noop", args={}, lane="main", cluster="default", priority=priority,
                      tier="TINY", max_execution_time=10, fairness_key=key)  # fmt: skip


class Room:
    """Stands in for the dispatcher: forwards while it has room, else holds the cluster back."""

    def __init__(self) -> None:
        self.lanes: LaneConsumers | None = None
        self.tokens = 10**9
        self.started: list[tuple[str | None, str]] = []

    async def handle(self, message: AbstractIncomingMessage) -> None:
        assert self.lanes is not None
        j = JobMessage.model_validate_json(message.body)
        if self.tokens <= 0:
            await self.lanes.set_full("default", True)
            await message.nack(requeue=True)
            return
        self.tokens -= 1
        self.lanes.started(j.cluster, j.lane, j.fairness_key)
        self.started.append((j.fairness_key, j.id))
        await message.ack()

    async def refill(self, every: float, stop: asyncio.Event) -> None:
        assert self.lanes is not None
        while not stop.is_set():
            await asyncio.sleep(every)
            self.tokens = 1
            await self.lanes.set_full("default", False)


@pytest.fixture
def fair_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"fairness_shards": SHARDS, "fairness_prefetch": 4})


@pytest.fixture
async def fair_bus(fair_settings: Settings) -> AsyncIterator[Bus]:
    b = Bus(fair_settings)
    await b.connect()
    yield b
    await b.close()
    await delete_shards(fair_settings)
    await delete_topology(fair_settings)


async def lanes_for(bus: Bus, room: Room) -> LaneConsumers:
    _, topology = await bus.consumer_channel(64)
    _, fair_topology = await bus.consumer_channel(bus.settings.fairness_prefetch)
    lanes = LaneConsumers(topology, room.handle, fair_topology, bus.settings.fairness_shards)
    room.lanes = lanes
    await lanes.make_fair("main", "default")
    return lanes


async def test_a_second_key_is_not_stuck_behind_the_first_keys_backlog(fair_bus: Bus) -> None:
    a, b = distinct_keys(2, SHARDS)
    await asyncio.gather(*(fair_bus.to_lane(job(f"a{i}", a)) for i in range(2000)))
    room = Room()
    room.tokens = 0  # a backlog: the lane is saturated, one job goes each time room frees up
    lanes = await lanes_for(fair_bus, room)
    await lanes.set_active(True)
    stop = asyncio.Event()
    refill = asyncio.create_task(room.refill(0.002, stop))
    await until(lambda: len(room.started) >= 200, within=30)
    before = len(room.started)
    await asyncio.gather(*(fair_bus.to_lane(job(f"b{i}", b)) for i in range(10)))
    await until(lambda: sum(1 for k, _ in room.started if k == b) == 10, within=30)
    stop.set()
    await refill
    last_b = max(i for i, (k, _) in enumerate(room.started) if k == b)
    a_ahead = sum(1 for k, _ in room.started[before:last_b] if k == a)
    print(f"\nA's jobs started between B's submission and B's last start: {a_ahead}")
    assert a_ahead < 100
    await lanes.close()


async def test_weighted_keys_share_a_saturated_lane_by_weight(fair_bus: Bus) -> None:
    x, y, z = distinct_keys(3, SHARDS)
    for key in (x, y, z):
        await asyncio.gather(*(fair_bus.to_lane(job(f"{key}-{i}", key)) for i in range(400)))
    room = Room()
    room.tokens = 0  # saturated: one job goes each time room frees up
    lanes = await lanes_for(fair_bus, room)
    lanes.weights = {("main", x): 1.0, ("main", y): 1.0, ("main", z): 2.0}
    await lanes.set_active(True)
    stop = asyncio.Event()
    refill = asyncio.create_task(room.refill(0.002, stop))
    await until(lambda: len(room.started) >= 400, within=60)
    stop.set()
    await refill
    shares = Counter(k for k, _ in room.started[:400])
    print(f"\nshares of 400 starts, weights 1:1:2: {dict(shares)}")
    for key, expected in ((x, 100), (y, 100), (z, 200)):
        assert abs(shares[key] - expected) <= expected * 0.1
    await lanes.close()


async def test_strict_priority_across_keys_and_the_default_key(fair_bus: Bus) -> None:
    a, b = distinct_keys(2, SHARDS)
    for i in range(20):
        await fair_bus.to_lane(job(f"a{i}", a, priority=1))
        await fair_bus.to_lane(job(f"n{i}", None, priority=1))
    for i in range(5):
        await fair_bus.to_lane(job(f"b{i}", b, priority=9))
    room = Room()
    room.tokens = 0  # saturated, so that what each queue holds has arrived when room frees up
    lanes = await lanes_for(fair_bus, room)
    await lanes.set_active(True)
    fair = lanes.fair[("default", "main")]
    await until(lambda: fair.buffered() == 3 * fair_bus.settings.fairness_prefetch, within=10)
    stop = asyncio.Event()
    refill = asyncio.create_task(room.refill(0.002, stop))
    await until(lambda: len(room.started) == 45, within=30)
    stop.set()
    await refill
    assert {k for k, _ in room.started[:5]} == {b}
    rest = Counter(k for k, _ in room.started[5:25])
    assert rest == {a: 10, None: 10}  # the default key takes its turns like any other
    await lanes.close()


async def test_losing_the_lease_gives_the_buffered_messages_back(fair_bus: Bus) -> None:
    (a,) = distinct_keys(1, SHARDS)
    for i in range(50):
        await fair_bus.to_lane(job(f"a{i}", a))
    room = Room()
    room.tokens = 0
    lanes = await lanes_for(fair_bus, room)
    await lanes.set_active(True)
    fair = lanes.fair[("default", "main")]
    await until(lambda: fair.buffered() > 0, within=10)
    assert fair.buffered() <= fair_bus.settings.fairness_prefetch
    await lanes.set_active(False)
    assert fair.buffered() == 0
    depths = [(await q.declare()).message_count or 0 for q in fair.queues.values()]
    assert sum(depths) == 50  # every message back in RabbitMQ for the next lease holder
    await lanes.close()
