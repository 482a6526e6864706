"""The whole AMQP topology. Admission and the dispatcher declare the parts they use, idempotently,
whichever starts first; runners declare nothing shared (roles.py, docs/security.md).

    submit (fanout) ──> <p>.submit ──> admission ──> lanes (direct, "<lane>.<cluster>")
    lanes ──> <p>.lane.<lane>.<cluster> (priority) ──> dispatcher ──> clusters (direct, "<slug>")
    clusters ──> <p>.cluster.<slug> (priority) ──> runners
    delay (headers, "delay-ms") ──> <p>.delay.<ms> (TTL) ──dead-letter──> lanes, same routing key
    ckey (direct, key hash) ──> <p>.ckey.<hash>: jobs of a concurrency key without a free slot
    dead (fanout) ──> <p>.dead;  capacity and control (fanout) ──> <p>.listener.<id>, exclusive, one
    per listening process

Delays use one TTL queue per step of a fixed ladder (no plugin): every message in a queue has the
same TTL, so messages expire in arrival order and none waits behind a longer one.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue, ExchangeType
from pamqp.common import FieldTable

from laneyard.shared.amqp.roles import Part
from laneyard.shared.fair_shards import shard_name

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

    def lane_shard_queue(self, lane: str, cluster: str, shard: int) -> str:
        return f"{self.lane_queue(lane, cluster)}.{shard_name(shard)}"

    @staticmethod
    def lane_shard_key(lane: str, cluster: str, shard: int) -> str:
        return f"{lane}.{cluster}.{shard_name(shard)}"

    def cluster_queue(self, slug: str) -> str:
        return f"{self.prefix}.cluster.{slug}"

    def delay_queue(self, ms: int) -> str:
        return f"{self.prefix}.delay.{ms}"

    def listener_queue(self, tag: str) -> str:
        return f"{self.prefix}.listener.{tag}"

    @property
    def park_exchange(self) -> str:
        return f"{self.prefix}.ckey"

    @staticmethod
    def park_key(concurrency_key: str) -> str:
        """A concurrency key as a name part: keys may hold characters a queue name should not."""
        return hashlib.blake2b(concurrency_key.encode(), digest_size=8).hexdigest()

    def park_queue(self, concurrency_key: str) -> str:
        return f"{self.prefix}.ckey.{self.park_key(concurrency_key)}"


@dataclass
class Topology:
    """Declares exchanges and queues once per channel and remembers what it declared.

    With ``declares`` false (a runner, whose broker user may configure nothing shared) it declares
    nothing but listener queues: exchanges and queues are used as they are, and must exist.
    """

    channel: AbstractChannel
    names: Names
    ladder: list[int]
    # Every declaration is bounded: aio-pika's robust channel first waits, without a limit, for its
    # connection to be back, which during a broker restart (or after a close) may never happen.
    timeout: float = 10.0
    declares: bool = True
    _exchanges: dict[str, AbstractExchange] = field(default_factory=dict)
    _queues: dict[str, AbstractQueue] = field(default_factory=dict)
    _parts: set[Part] = field(default_factory=set)

    async def exchange(self, name: str, kind: ExchangeType) -> AbstractExchange:
        ex = self._exchanges.get(name)
        if ex is None:
            if self.declares:
                ex = await self._bounded(self.channel.declare_exchange(name, kind, durable=True))
            else:
                ex = await self.channel.get_exchange(name, ensure=False)
            self._exchanges[name] = ex
        return ex

    async def _bounded(self, step: Awaitable[T]) -> T:
        return await asyncio.wait_for(step, self.timeout)

    async def declare_core(self) -> None:
        """Every fixed part, as one broker user allowed everything would."""
        await self.declare(tuple(Part))

    async def declare(self, parts: tuple[Part, ...]) -> None:
        n = self.names
        for part in parts:
            if part in self._parts:
                continue
            if part is Part.SUBMIT:
                submit = await self.exchange(n.submit_exchange, ExchangeType.FANOUT)
                q = await self._queue(n.submit_queue, {"x-dead-letter-exchange": n.dead_exchange})
                await self._bounded(q.bind(submit))
            elif part is Part.DEAD:
                dead = await self.exchange(n.dead_exchange, ExchangeType.FANOUT)
                dq = await self._queue(n.dead_queue, {})
                await self._bounded(dq.bind(dead))
            elif part is Part.DELAYS:
                delay = await self.exchange(n.delay_exchange, ExchangeType.HEADERS)
                for ms in self.ladder:
                    dl = await self._queue(
                        n.delay_queue(ms),
                        {"x-message-ttl": ms, "x-dead-letter-exchange": n.lanes_exchange},
                    )
                    await self._bounded(dl.bind(delay, arguments={"x-match": "all", "delay-ms": ms}))
            else:
                await self.exchange(*EXCHANGES[part](n))
            self._parts.add(part)

    def names_of(self, parts: tuple[Part, ...]) -> tuple[list[str], list[str]]:
        """The exchanges and the queues that make up ``parts``."""
        n = self.names
        exchanges: list[str] = []
        queues: list[str] = []
        for part in parts:
            if part is Part.SUBMIT:
                exchanges.append(n.submit_exchange)
                queues.append(n.submit_queue)
            elif part is Part.DEAD:
                exchanges.append(n.dead_exchange)
                queues.append(n.dead_queue)
            elif part is Part.DELAYS:
                exchanges.append(n.delay_exchange)
                queues += [n.delay_queue(ms) for ms in self.ladder]
            else:
                exchanges.append(EXCHANGES[part](n)[0])
        return exchanges, queues

    async def lane_queue(self, lane: str, cluster: str) -> AbstractQueue:
        n = self.names
        name = n.lane_queue(lane, cluster)
        q = self._queues.get(name)
        if q is None and not self.declares:
            # Only published to, and a publish to a lane without its queue comes back unroutable.
            q = self._queues[name] = await self.channel.get_queue(name, ensure=False)
        if q is None:
            q = await self._queue(name, {"x-max-priority": MAX_PRIORITY})
            lanes = await self.exchange(n.lanes_exchange, ExchangeType.DIRECT)
            await self._bounded(q.bind(lanes, n.lane_key(lane, cluster)))
        return q

    async def lane_shard_queue(self, lane: str, cluster: str, shard: int) -> AbstractQueue:
        """One of a lane's fairness shards (shared.fair_shards); like ``lane_queue``."""
        n = self.names
        name = n.lane_shard_queue(lane, cluster, shard)
        q = self._queues.get(name)
        if q is None and not self.declares:
            q = self._queues[name] = await self.channel.get_queue(name, ensure=False)
        if q is None:
            q = await self._queue(name, {"x-max-priority": MAX_PRIORITY})
            lanes = await self.exchange(n.lanes_exchange, ExchangeType.DIRECT)
            await self._bounded(q.bind(lanes, n.lane_shard_key(lane, cluster, shard)))
        return q

    async def cluster_queue(self, slug: str) -> AbstractQueue:
        """The cluster's queue; without ``declares``, one that exists (``Bus.await_declared``)."""
        n = self.names
        name = n.cluster_queue(slug)
        q = self._queues.get(name)
        if q is None and not self.declares:
            # Passive, so that aio-pika restores it passively after a reconnection as well.
            q = self._queues[name] = await self._bounded(self.channel.declare_queue(name, passive=True))
        if q is None:
            q = await self._queue(name, {"x-max-priority": MAX_PRIORITY})
            clusters = await self.exchange(n.clusters_exchange, ExchangeType.DIRECT)
            await self._bounded(q.bind(clusters, slug))
        return q

    async def park_queue(self, concurrency_key: str) -> AbstractQueue:
        """Where jobs of a concurrency key with no free slot wait, unconsumed, until the dispatcher
        moves them back to their lanes (``services/dispatcher/concurrency_gate.py``)."""
        n = self.names
        name = n.park_queue(concurrency_key)
        q = self._queues.get(name)
        if q is None:
            q = await self._queue(name, {"x-max-priority": MAX_PRIORITY})
            parked = await self.exchange(n.park_exchange, ExchangeType.DIRECT)
            await self._bounded(q.bind(parked, n.park_key(concurrency_key)))
        return q

    async def listener_queue(self, exchange_name: str) -> AbstractQueue:
        """An exclusive queue on a fanout exchange: one per listening process. Named under the
        prefix, so that a runner's broker user may declare it and nothing of another deployment."""
        name = self.names.listener_queue(uuid.uuid4().hex)
        q = await self._bounded(self.channel.declare_queue(name, exclusive=True, auto_delete=True))
        await self._bounded(q.bind(await self.exchange(exchange_name, ExchangeType.FANOUT)))
        return q

    async def _queue(self, name: str, arguments: FieldTable) -> AbstractQueue:
        q = await self._bounded(self.channel.declare_queue(name, durable=True, arguments=arguments))
        self._queues[name] = q
        return q


# The exchanges that are a part on their own, and their kind.
EXCHANGES: dict[Part, Callable[[Names], tuple[str, ExchangeType]]] = {
    Part.LANES: lambda n: (n.lanes_exchange, ExchangeType.DIRECT),
    Part.CLUSTERS: lambda n: (n.clusters_exchange, ExchangeType.DIRECT),
    Part.CAPACITY: lambda n: (n.capacity_exchange, ExchangeType.FANOUT),
    Part.CONTROL: lambda n: (n.control_exchange, ExchangeType.FANOUT),
    Part.PARKED: lambda n: (n.park_exchange, ExchangeType.DIRECT),
}


def persistent(body: bytes, **kwargs: object) -> aio_pika.Message:
    return aio_pika.Message(
        body,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        content_type="application/json",
        **kwargs,  # type: ignore[arg-type]
    )
