"""One consumer per lane queue, consuming only while nothing holds it back.

A lane is held back while this dispatcher does not hold the dispatch lease, while its cluster has
no room at all, while it is over its weighted share and another lane has work, or until the next
capacity change after its first job did not fit (blocking receive). Holding back
means cancelling the consumer: the backlog stays in RabbitMQ, untouched, instead of cycling
through the delay queues, until a capacity report or the housekeeping loop lets it go again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from laneyard.shared.amqp.topology import Topology

log = logging.getLogger(__name__)

Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]
LaneKey = tuple[str, str]  # (cluster, lane)


class LaneConsumer:
    def __init__(self, queue: AbstractQueue, handler: Handler) -> None:
        self.queue = queue
        self.handler = handler
        self.tag: str | None = None
        # Reports arrive as concurrent tasks: without the lock a resume racing a pause across the
        # consume round trip would leave two consumers on one queue.
        self._lock = asyncio.Lock()

    async def consume(self, wanted: Callable[[], bool]) -> None:
        # `wanted` is read under the lock: read before it, a pause and a resume racing for the lock
        # could apply in the wrong order and leave a lane cancelled with nothing holding it back.
        async with self._lock:
            if wanted() and self.tag is None:
                self.tag = await self.queue.consume(self.handler)
            elif not wanted() and self.tag is not None:
                tag, self.tag = self.tag, None
                await self.queue.cancel(tag)


class LaneConsumers:
    def __init__(self, topology: Topology, handler: Handler) -> None:
        self.topology = topology
        self.handler = handler
        self.consumers: dict[LaneKey, LaneConsumer] = {}
        self.active = False
        self.full: set[str] = set()
        self.yielding: set[LaneKey] = set()
        self.waiting: set[LaneKey] = set()  # until the next capacity change
        self._adding: set[LaneKey] = set()

    def lanes_of(self, cluster: str) -> list[str]:
        return [lane for (c, lane) in self.consumers if c == cluster]

    def queue_of(self, cluster: str, lane: str) -> AbstractQueue | None:
        consumer = self.consumers.get((cluster, lane))
        return consumer.queue if consumer else None

    def _wanted(self, key: LaneKey) -> bool:
        return (
            self.active and key[0] not in self.full and key not in self.yielding and key not in self.waiting
        )

    async def _sync(self, key: LaneKey) -> None:
        consumer = self.consumers.get(key)
        if consumer is not None:
            await consumer.consume(lambda: self._wanted(key))

    async def add(self, lane: str, cluster: str) -> None:
        key = (cluster, lane)
        if key in self.consumers or key in self._adding:
            return
        self._adding.add(key)  # two announcements of one lane must not add it twice
        try:
            queue = await self.topology.lane_queue(lane, cluster)
        finally:
            self._adding.discard(key)
        self.consumers[key] = LaneConsumer(queue, self.handler)
        await self._sync(key)
        log.info("watching lane %s of cluster %s", lane, cluster)

    async def set_active(self, active: bool) -> None:
        if self.active == active:
            return
        self.active = active
        for key in list(self.consumers):
            await self._sync(key)

    async def resync(self) -> None:
        """Brings every consumer in line with its flags; a no-op (no network) where they agree."""
        for key in list(self.consumers):
            await self._sync(key)

    async def set_full(self, cluster: str, full: bool) -> None:
        if (cluster in self.full) == full:
            return
        if full:
            self.full.add(cluster)
        else:
            self.full.discard(cluster)
        for key in [k for k in self.consumers if k[0] == cluster]:
            await self._sync(key)

    async def set_yielding(self, cluster: str, lane: str, yielding: bool) -> None:
        await self._flag(self.yielding, (cluster, lane), yielding)

    async def set_waiting(self, cluster: str, lane: str, waiting: bool) -> None:
        await self._flag(self.waiting, (cluster, lane), waiting)

    async def _flag(self, flags: set[LaneKey], key: LaneKey, on: bool) -> None:
        if (key in flags) == on:
            return
        if on:
            flags.add(key)
        else:
            flags.discard(key)
        await self._sync(key)
