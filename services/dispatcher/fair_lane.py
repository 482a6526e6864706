"""The consumers of a fair lane: its default queue and its fairness shards, taken in turn.

Each queue is consumed with a small prefetch (``LANEYARD_FAIRNESS_PREFETCH``) on a channel of its
own, and what arrives waits in a per-queue buffer (highest priority first) until the pump hands it
to the dispatch handler, one message at a time, from the queue whose turn it is
(``fair_pick.StrideClock``). The handler decides before its first await; the pump lets it run that
far before the next pick, so a job that finds no room holds the lane back (``LaneConsumers``) and
the pump stops there, with the rest still buffered. Nothing is cancelled while the lane is held
back: the buffers are bounded by the prefetch, so the backlog stays in RabbitMQ. Only losing the
lease cancels the consumers and gives the buffered messages back.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import Awaitable, Callable

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue

from laneyard.services.dispatcher.fair_pick import StrideClock

log = logging.getLogger(__name__)

Handler = Callable[[AbstractIncomingMessage], Awaitable[None]]
Buffered = tuple[int, int, AbstractIncomingMessage]  # (-priority, arrival, message)


class FairLane:
    def __init__(
        self,
        queues: dict[str, AbstractQueue],
        handler: Handler,
        wanted: Callable[[], bool],
        weight_of: Callable[[str | None], float],
        timeout: float = 10.0,
    ) -> None:
        """``queues``: the lane's queues by stride-clock name (``shared.fair_shards.queue_id``)."""
        self.queues = queues
        self.handler = handler
        self.wanted = wanted
        self.weight_of = weight_of
        self.timeout = timeout
        self.clock = StrideClock()
        self.buffers: dict[str, list[Buffered]] = {q: [] for q in queues}
        self.tags: dict[str, str] = {}
        self.consuming = False
        self._arrival = itertools.count()
        self._wake = asyncio.Event()
        self._lock = asyncio.Lock()
        self._pump: asyncio.Task[None] | None = None
        self._handling: set[asyncio.Future[None]] = set()

    def buffered(self) -> int:
        return sum(len(b) for b in self.buffers.values())

    def _receiver(self, queue_id: str) -> Handler:
        async def receive(message: AbstractIncomingMessage) -> None:
            if not self.consuming:
                # Delivered as the consumers were cancelled: back to its queue at once.
                await message.nack(requeue=True)
                return
            heapq.heappush(self.buffers[queue_id], (-(message.priority or 0), next(self._arrival), message))
            self._wake.set()

        return receive

    async def sync(self, consuming: bool) -> None:
        """Consumes while ``consuming`` (the lease is held); otherwise gives everything back."""
        async with self._lock:
            if consuming and not self.consuming:
                self.consuming = True
                try:
                    for queue_id, queue in self.queues.items():
                        self.tags[queue_id] = await asyncio.wait_for(
                            queue.consume(self._receiver(queue_id)), self.timeout
                        )
                except Exception:
                    # All or none: the next sync starts over.
                    self.consuming = False
                    tags, self.tags = self.tags, {}
                    for queue_id, tag in tags.items():
                        with contextlib.suppress(Exception):
                            await asyncio.wait_for(self.queues[queue_id].cancel(tag), self.timeout)
                    await self._give_back()
                    raise
            elif not consuming and self.consuming:
                self.consuming = False
                tags, self.tags = self.tags, {}
                for queue_id, tag in tags.items():
                    await asyncio.wait_for(self.queues[queue_id].cancel(tag), self.timeout)
                await self._give_back()
        if self._pump is None:
            self._pump = asyncio.create_task(self._run())
        self.kick()

    def kick(self) -> None:
        self._wake.set()

    def started(self, queue_id: str, key: str | None) -> None:
        """The handler forwarded a job of ``key`` from ``queue_id``: it is that queue's turn spent."""
        self.clock.started(queue_id, self.weight_of(key))

    async def _give_back(self) -> None:
        for buffer in self.buffers.values():
            while buffer:
                _, _, message = heapq.heappop(buffer)
                with contextlib.suppress(Exception):  # a closed channel has given it back already
                    await message.nack(requeue=True)

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._pump_once()
            except Exception:
                log.exception("the pump of a fair lane failed; it goes on at the next wake-up")

    async def _pump_once(self) -> None:
        while self.consuming and self.wanted():
            heads = {q: -buffer[0][0] for q, buffer in self.buffers.items() if buffer}
            queue_id = self.clock.pick(heads)
            if queue_id is None:
                return
            _, _, message = heapq.heappop(self.buffers[queue_id])
            task = asyncio.ensure_future(self.handler(message))
            self._handling.add(task)
            task.add_done_callback(self._handling.discard)
            # One step of the loop: the handler runs up to its first await, where it has decided
            # (and, on no room, held the lane back), before the next pick.
            await asyncio.sleep(0)

    async def close(self) -> None:
        await self.sync(False)
        if self._pump is not None:
            self._pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pump
