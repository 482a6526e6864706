"""Intake queues: where jobs of a rate-limited lane or cluster wait, in RabbitMQ, for their turn.

intake (direct, "<lane>.<cluster>") ──> <p>.intake.<lane>.<cluster> (priority) ──mover──> lanes
"""

from __future__ import annotations

from aio_pika.abc import AbstractQueue, ExchangeType

from laneyard.shared.amqp.topology import MAX_PRIORITY, Names, Topology


def exchange_name(names: Names) -> str:
    return f"{names.prefix}.intake"


def queue_name(names: Names, lane: str, cluster: str) -> str:
    return f"{names.prefix}.intake.{lane}.{cluster}"


async def declare(topology: Topology, lane: str, cluster: str) -> AbstractQueue:
    names = topology.names
    exchange = await topology.exchange(exchange_name(names), ExchangeType.DIRECT)
    queue = await topology.channel.declare_queue(
        queue_name(names, lane, cluster), durable=True, arguments={"x-max-priority": MAX_PRIORITY}
    )
    await queue.bind(exchange, names.lane_key(lane, cluster))
    return queue
