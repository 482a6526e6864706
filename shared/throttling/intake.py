"""Intake queues: where jobs of a rate-limited lane, cluster or job key wait, in RabbitMQ, for their turn.

intake (direct, "<lane>.<cluster>") ──> <p>.intake.<lane>.<cluster> (priority) ──mover──> lanes

A job whose concurrency or fairness key has a rate waits in ``<p>.intake.<lane>.<cluster>.<key>``
instead (routing key ``<lane>.<cluster>.<key>``; lanes and clusters hold no dots, so the names never
clash). Keys come and go: a key's mover deletes its queue (only if empty) once it has stayed empty
and unused for ``KEY_IDLE_SECONDS``. Not ``x-expires``, which deletes a queue with its jobs in it
(a key held at rate 0, or every admission replica down for a while).
"""

from __future__ import annotations

import asyncio
import hashlib

from aio_pika.abc import AbstractQueue, ExchangeType

from laneyard.shared.amqp.topology import MAX_PRIORITY, Names, Topology

# Admission re-declares a key's queue and renews its ``touched_at`` at least this often while sending
# to it; a mover deletes the queue only once it was empty and untouched for KEY_IDLE_SECONDS. So a
# queue is never deleted under a replica that believes it exists (a send after a delete is
# unroutable, and admission then declares the queue again and resends).
KEY_TOUCH_SECONDS = 30.0
KEY_IDLE_SECONDS = 60.0
MAX_NAME = 255  # AMQP short strings


def exchange_name(names: Names) -> str:
    return f"{names.prefix}.intake"


def key_part(names: Names, lane: str, cluster: str, key: str) -> str:
    """The key as it appears in names: itself, or a digest when the queue name would be too long."""
    if len(f"{names.prefix}.intake.{lane}.{cluster}.{key}") <= MAX_NAME:
        return key
    return "sha256-" + hashlib.sha256(key.encode()).hexdigest()[:40]


def routing_key(names: Names, lane: str, cluster: str, key: str | None = None) -> str:
    lane_key = names.lane_key(lane, cluster)
    return lane_key if key is None else f"{lane_key}.{key_part(names, lane, cluster, key)}"


def queue_name(names: Names, lane: str, cluster: str, key: str | None = None) -> str:
    return f"{names.prefix}.intake.{routing_key(names, lane, cluster, key)}"


async def declare(topology: Topology, lane: str, cluster: str, key: str | None = None) -> AbstractQueue:
    names = topology.names
    exchange = await topology.exchange(exchange_name(names), ExchangeType.DIRECT)
    queue = await asyncio.wait_for(
        topology.channel.declare_queue(
            queue_name(names, lane, cluster, key), durable=True, arguments={"x-max-priority": MAX_PRIORITY}
        ),
        topology.timeout,
    )
    await asyncio.wait_for(queue.bind(exchange, routing_key(names, lane, cluster, key)), topology.timeout)
    return queue


def key_queue_idle(empty_for: float, since_touched: float) -> bool:
    """Whether a key's mover may delete its queue: empty, and no replica sent to it, for long enough."""
    return empty_for >= KEY_IDLE_SECONDS and since_touched >= KEY_IDLE_SECONDS
