"""The raw baseline that gives Laneyard's figures a meaning on any machine: the same number of job
bodies of the same size through one hop of plain aio-pika on the same broker.

One process, two channels: 32 publishers on a confirmed channel send persistent messages to a
durable priority queue (like a lane queue); a consumer with a prefetch of 64 acks each message
by hand. Jobs per second is from the first publish to the last ack.

Standalone: ``python -m tests.bench.raw_baseline [COUNT ...]`` (LANEYARD_AMQP_URL or the local broker).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import aio_pika
from aio_pika.abc import AbstractIncomingMessage

from laneyard.shared.ids import new_job_id
from laneyard.shared.models import JobMessage, Submission


def job_body(task: dict[str, object]) -> bytes:
    """The exact message Laneyard publishes for a submission of ``task`` (same fields, same size)."""
    job = JobMessage.from_submission(Submission.model_validate(task), new_job_id())
    return job.model_dump_json().encode()


async def raw_one_hop(
    amqp_url: str, queue_name: str, body: bytes, count: int, publishers: int = 32, within: float = 600
) -> float:
    """Jobs per second through one persistent, confirmed, acked hop."""
    connection = await aio_pika.connect(amqp_url, timeout=30)
    async with connection:
        pub = await connection.channel(publisher_confirms=True)
        sub = await connection.channel()
        await sub.set_qos(prefetch_count=64)
        queue = await sub.declare_queue(queue_name, durable=True, arguments={"x-max-priority": 10})
        received = 0
        all_in = asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= count:
                all_in.set()

        try:
            await queue.consume(on_message)
            started = time.monotonic()
            sent = 0

            async def publisher() -> None:
                nonlocal sent
                while sent < count:
                    sent += 1
                    await pub.default_exchange.publish(
                        aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, priority=5),
                        routing_key=queue_name,
                        timeout=60,
                    )

            await asyncio.gather(*(publisher() for _ in range(publishers)))
            await asyncio.wait_for(all_in.wait(), within)
            took = time.monotonic() - started
        finally:
            await queue.delete(if_unused=False, if_empty=False)
    return count / took


async def main(counts: list[int]) -> None:
    url = os.environ.get("LANEYARD_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")
    body = job_body({"task": "demo.noop", "tier": "TINY"})
    for n in counts:
        rate = await raw_one_hop(url, f"laneyard-raw-{uuid.uuid4().hex[:8]}", body, n)
        print(f"raw aio-pika one hop, {n} messages of {len(body)} bytes: {rate:,.0f}/s")


if __name__ == "__main__":
    asyncio.run(main([int(a) for a in sys.argv[1:]] or [1000, 50000]))
