"""One consumer per lane queue, consuming only while nothing holds it back.

A lane is held back while this dispatcher does not hold the dispatch lease, while its cluster has
no room at all, while it is over its weighted share and another lane has work, or until the next
capacity change after its first job did not fit (blocking receive), and while it or its cluster is
paused (``shared/pausing.py``). Holding back
means cancelling the consumer: the backlog stays in RabbitMQ, untouched, instead of cycling
through the delay queues, until a capacity report or the housekeeping loop lets it go again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from laneyard.services.dispatcher.fair_lane import FairLane
from laneyard.shared.amqp.topology import Topology
from laneyard.shared.fair_shards import DEFAULT, queue_id, shard_name
from laneyard.shared.pausing import Pauses

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
    def __init__(
        self,
        topology: Topology,
        handler: Handler,
        fair_topology: Topology | None = None,
        fairness_shards: int = 32,
    ) -> None:
        """``fair_topology``: the channel (with its small prefetch) fair lanes are consumed on."""
        self.topology = topology
        self.handler = handler
        self.fair_topology = fair_topology or topology
        self.fairness_shards = fairness_shards
        self.consumers: dict[LaneKey, LaneConsumer] = {}
        # Lanes whose jobs carry fairness keys, consumed through their default queue and shards.
        self.fair: dict[LaneKey, FairLane] = {}
        self.weights: dict[tuple[str, str], float] = {}  # (lane, fairness key) -> weight
        self.active = False
        self.full: set[str] = set()
        self.yielding: set[LaneKey] = set()
        self.waiting: set[LaneKey] = set()  # until the next capacity change
        self.pauses = Pauses()  # paused lanes and drained clusters, as last read from the database
        self._adding: set[LaneKey] = set()
        self._making_fair: set[LaneKey] = set()

    def lanes_of(self, cluster: str) -> list[str]:
        return [lane for (c, lane) in self.consumers if c == cluster]

    def queue_of(self, cluster: str, lane: str) -> AbstractQueue | None:
        consumer = self.consumers.get((cluster, lane))
        return consumer.queue if consumer else None

    def _wanted(self, key: LaneKey) -> bool:
        return (
            self.active
            and key[0] not in self.full
            and key not in self.yielding
            and key not in self.waiting
            and not self.pauses.holds(key[1], key[0])
        )

    async def _sync(self, key: LaneKey) -> None:
        consumer = self.consumers.get(key)
        fair = self.fair.get(key)
        if fair is not None:
            # Its default queue is one of the fair lane's queues, no longer consumed on its own.
            if consumer is not None:
                await consumer.consume(lambda: False)
            await fair.sync(self.active)
            return
        if consumer is not None:
            await consumer.consume(lambda: self._wanted(key))

    async def make_fair(self, lane: str, cluster: str) -> None:
        """From now on the lane's queues are taken in turn (``fair_lane.py``); a lane stays fair."""
        key = (cluster, lane)
        if key in self.fair or key in self._making_fair:
            return
        self._making_fair.add(key)
        try:
            topology = self.fair_topology
            queues = {DEFAULT: await topology.lane_queue(lane, cluster)}
            for shard in range(self.fairness_shards):
                queues[shard_name(shard)] = await topology.lane_shard_queue(lane, cluster, shard)
        finally:
            self._making_fair.discard(key)
        if key not in self.consumers:
            await self.add(lane, cluster)
        self.fair[key] = FairLane(
            queues,
            self.handler,
            wanted=lambda: self._wanted(key),
            weight_of=lambda fairness_key: self.weights.get((lane, fairness_key or DEFAULT), 1.0),
            timeout=topology.timeout,
        )
        await self._sync(key)
        log.info("taking lane %s of cluster %s in turns by fairness key", lane, cluster)

    def started(self, cluster: str, lane: str, fairness_key: str | None) -> None:
        """A job was forwarded: in a fair lane, its queue's turn is spent."""
        fair = self.fair.get((cluster, lane))
        if fair is not None:
            fair.started(queue_id(fairness_key, self.fairness_shards), fairness_key)

    def queues_of(self, cluster: str, lane: str) -> list[AbstractQueue]:
        """Every queue of the lane: its own, and its shards if it is fair."""
        fair = self.fair.get((cluster, lane))
        if fair is not None:
            return list(fair.queues.values())
        queue = self.queue_of(cluster, lane)
        return [queue] if queue is not None else []

    async def close(self) -> None:
        await self.set_active(False)
        for fair in self.fair.values():
            await fair.close()

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

    async def set_pauses(self, pauses: Pauses) -> None:
        if pauses == self.pauses:
            return
        self.pauses = pauses
        await self.resync()

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
