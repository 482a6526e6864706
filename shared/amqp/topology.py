"""The whole AMQP topology, declared idempotently by whichever service starts first.

    submit (fanout) ──> <p>.submit ──> admission ──> lanes (direct, "<lane>.<cluster>")
    lanes ──> <p>.lane.<lane>.<cluster> (priority) ──> dispatcher ──> clusters (direct, "<slug>")
    clusters ──> <p>.cluster.<slug> (priority) ──> runners
    delay (headers, "delay-ms") ──> <p>.delay.<ms> (TTL) ──dead-letter──> lanes, same routing key
    dead (fanout) ──> <p>.dead;  capacity and control (fanout) ──> one exclusive queue per listener

Delays use one TTL queue per step of a fixed ladder (no plugin): every message in a queue has the
same TTL, so messages expire in arrival order and none waits behind a longer one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, ExchangeType
from pamqp.common import FieldTable

T = TypeVar("T")

MAX_PRIORITY = 10  # priorities 0-9; RabbitMQ keeps one internal sub-queue per level


def delay_ladder(min_ms: int, max_ms: int) -> list[int]:
    steps: list[int] = []
    step = max(1, min_ms)
    while step < max_ms:
        steps.append(step)
        step *= 2
    steps.append(max_ms)
    return steps


def pick_delay(ladder: list[int], wanted_ms: float) -> int:
    """The longest step that does not overshoot the wanted delay (the shortest when all do)."""
    fitting = [s for s in ladder if s <= wanted_ms]
    return fitting[-1] if fitting else ladder[0]


@dataclass(frozen=True)
class Names:
    prefix: str

    @property
    def submit_exchange(self) -> str:
        return f"{self.prefix}.submit"

    @property
    def submit_queue(self) -> str:
        return f"{self.prefix}.submit"

    @property
    def lanes_exchange(self) -> str:
        return f"{self.prefix}.lanes"

    @property
    def clusters_exchange(self) -> str:
        return f"{self.prefix}.clusters"

    @property
    def delay_exchange(self) -> str:
        return f"{self.prefix}.delay"

    @property
    def dead_exchange(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def dead_queue(self) -> str:
        return f"{self.prefix}.dead"

    @property
    def capacity_exchange(self) -> str:
        return f"{self.prefix}.capacity"

    @property
    def control_exchange(self) -> str:
        return f"{self.prefix}.control"

    @staticmethod
    def lane_key(lane: str, cluster: str) -> str:
        return f"{lane}.{cluster}"

    def lane_queue(self, lane: str, cluster: str) -> str:
        return f"{self.prefix}.lane.{lane}.{cluster}"

    def cluster_queue(self, slug: str) -> str:
        return f"{self.prefix}.cluster.{slug}"

    def delay_queue(self, ms: int) -> str:
        return f"{self.prefix}.delay.{ms}"


@dataclass
class Topology:
    """Declares exchanges and queues once per channel and remembers what it declared."""

    channel: AbstractChannel
    names: Names
    ladder: list[int]
    # Every declaration is bounded: aio-pika's robust channel first waits, without a limit, for its
    # connection to be back, which during a broker restart (or after a close) may never happen.
    timeout: float = 10.0
    _exchanges: dict[str, AbstractExchange] = field(default_factory=dict)
    _queues: dict[str, AbstractQueue] = field(default_factory=dict)

    async def exchange(self, name: str, kind: ExchangeType) -> AbstractExchange:
        ex = self._exchanges.get(name)
        if ex is None:
            ex = await self._bounded(self.channel.declare_exchange(name, kind, durable=True))
            self._exchanges[name] = ex
        return ex

    async def _bounded(self, step: Awaitable[T]) -> T:
        return await asyncio.wait_for(step, self.timeout)

    async def declare_core(self) -> None:
        n = self.names
        submit = await self.exchange(n.submit_exchange, ExchangeType.FANOUT)
        await self.exchange(n.lanes_exchange, ExchangeType.DIRECT)
        await self.exchange(n.clusters_exchange, ExchangeType.DIRECT)
        delay = await self.exchange(n.delay_exchange, ExchangeType.HEADERS)
        dead = await self.exchange(n.dead_exchange, ExchangeType.FANOUT)
        await self.exchange(n.capacity_exchange, ExchangeType.FANOUT)
        await self.exchange(n.control_exchange, ExchangeType.FANOUT)

        q = await self._queue(n.submit_queue, {"x-dead-letter-exchange": n.dead_exchange})
        await self._bounded(q.bind(submit))
        dq = await self._queue(n.dead_queue, {})
        await self._bounded(dq.bind(dead))
        for ms in self.ladder:
            dl = await self._queue(
                n.delay_queue(ms),
                {"x-message-ttl": ms, "x-dead-letter-exchange": n.lanes_exchange},
            )
            await self._bounded(dl.bind(delay, arguments={"x-match": "all", "delay-ms": ms}))

    async def lane_queue(self, lane: str, cluster: str) -> AbstractQueue:
        n = self.names
        name = n.lane_queue(lane, cluster)
        q = self._queues.get(name)
        if q is None:
            q = await self._queue(name, {"x-max-priority": MAX_PRIORITY})
            lanes = await self.exchange(n.lanes_exchange, ExchangeType.DIRECT)
            await self._bounded(q.bind(lanes, n.lane_key(lane, cluster)))
        return q

    async def cluster_queue(self, slug: str) -> AbstractQueue:
        n = self.names
        name = n.cluster_queue(slug)
        q = self._queues.get(name)
        if q is None:
            q = await self._queue(name, {"x-max-priority": MAX_PRIORITY})
            clusters = await self.exchange(n.clusters_exchange, ExchangeType.DIRECT)
            await self._bounded(q.bind(clusters, slug))
        return q

    async def listener_queue(self, exchange_name: str) -> AbstractQueue:
        """An exclusive, server-named queue on a fanout exchange: one per listening process."""
        q = await self._bounded(self.channel.declare_queue(exclusive=True, auto_delete=True))
        await self._bounded(q.bind(await self.exchange(exchange_name, ExchangeType.FANOUT)))
        return q

    async def _queue(self, name: str, arguments: FieldTable) -> AbstractQueue:
        q = await self._bounded(self.channel.declare_queue(name, durable=True, arguments=arguments))
        self._queues[name] = q
        return q


def persistent(body: bytes, **kwargs: object) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        content_type="application/json",
        **kwargs,  # type: ignore[arg-type]
    )
