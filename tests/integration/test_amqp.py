"""The AMQP topology and bus against a real RabbitMQ."""

from __future__ import annotations

import asyncio
import time

import pytest

from laneyard.services.dispatcher.dispatch import header_ms
from laneyard.shared.amqp.bus import Bus, Unroutable
from laneyard.shared.models import JobMessage


def job(job_id: str = "j1", priority: int = 5) -> JobMessage:
    return JobMessage(id=job_id, task="demo.noop", args={}, lane="main", cluster="default",
                      priority=priority, tier="TINY", max_execution_time=10)  # fmt: skip


async def test_declaring_twice_is_harmless(bus: Bus) -> None:
    await bus.topology.declare_core()
    await bus.topology.lane_queue("main", "default")
    await bus.topology.lane_queue("main", "default")


async def test_delayed_requeue_comes_back_to_its_lane_after_the_ttl(bus: Bus) -> None:
    channel, topology = await bus.consumer_channel(10)
    queue = await topology.lane_queue("main", "default")
    sent = time.monotonic()
    first_blocked = time.time() - 3.21
    headers = {"x-delays": 2, "x-first-blocked-ms": int(first_blocked * 1000)}
    step = await bus.delayed(job(), 400, headers=headers)
    assert step == 400 or step in bus.ladder
    message = None
    for _ in range(100):
        message = await queue.get(fail=False)
        if message is not None:
            break
        await asyncio.sleep(0.05)
    assert message is not None, "the delayed message never came back"
    waited = time.monotonic() - sent
    assert waited >= step / 1000 * 0.9
    assert JobMessage.model_validate_json(message.body).id == "j1"
    assert message.priority == 5
    # The dispatcher's bookkeeping survives the round trip to the millisecond (a float header
    # would come back as a 32-bit float, a minute off).
    came_back = header_ms(message, "x-first-blocked-ms")
    assert came_back is not None and abs(came_back - first_blocked) < 0.002
    assert (message.headers or {}).get("x-delays") == 2
    await message.ack()
    await channel.close()


async def test_lane_queue_serves_higher_priority_first(bus: Bus) -> None:
    channel, topology = await bus.consumer_channel(10)
    queue = await topology.lane_queue("main", "default")
    for i, prio in enumerate([1, 9, 5, 9, 1]):
        await bus.to_lane(job(f"j{i}", prio))
    got = []
    for _ in range(5):
        m = await queue.get(timeout=5)
        got.append(JobMessage.model_validate_json(m.body).id)
        await m.ack()
    assert got == ["j1", "j3", "j2", "j0", "j4"]  # priority first, FIFO within a priority
    await channel.close()


async def test_unroutable_publish_raises_instead_of_dropping(bus: Bus) -> None:
    from aio_pika.abc import ExchangeType

    with pytest.raises(Unroutable):
        await bus.publish(bus.names.lanes_exchange, ExchangeType.DIRECT, b"{}", "no.such-lane")
