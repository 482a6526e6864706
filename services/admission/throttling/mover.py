"""Movers: each admission replica moves every intake queue into its lane at the lane's and cluster's pace.

Tokens come from the shared window counters, so replicas together stay within the rate; each mover
takes a few at a time and moves one message per token (publish to the lane, confirmed, then ack).
Messages are fetched one at a time (basic.get) only once a token is held, so the backlog waits in
the intake queue, visible and in order, rather than in a mover's prefetch. A mover whose lane has
no rate any more drains its intake at full speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from aio_pika.abc import AbstractIncomingMessage, ExchangeType

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.metrics import admission as admission_metrics
from laneyard.shared.store import intakes, throttle
from laneyard.shared.store.database import Database
from laneyard.shared.throttling import intake
from laneyard.shared.throttling.rates import RateBook
from laneyard.shared.throttling.window import batch_size, window_end, window_index, window_limit

log = logging.getLogger(__name__)


class Mover:
    def __init__(
        self,
        bus: Bus,
        db: Database,
        book: RateBook,
        lane: str,
        cluster: str,
        width: float,
        prefetch: int = 32,
    ) -> None:
        self.bus = bus
        self.db = db
        self.book = book
        self.lane = lane
        self.cluster = cluster
        self.width = width
        self.prefetch = prefetch
        self.moved = 0
        self._tokens = 0

    async def run(self) -> None:
        """Runs until cancelled; a lost channel or broker is retried rather than ending the mover."""
        while True:
            try:
                await self._consume()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("mover of %s.%s failed; restarting", self.lane, self.cluster)
                await asyncio.sleep(1.0)

    async def _consume(self) -> None:
        channel, topology = await self.bus.consumer_channel(1)
        timeout = self.bus.settings.network_timeout
        idle = 0
        try:
            queue = await intake.declare(topology, self.lane, self.cluster)
            await self.bus.topology.lane_queue(self.lane, self.cluster)
            while True:
                counted = await self._token()
                # Every token held is spent in one batch: the gets are quick, the confirms overlap.
                extra = self._tokens if counted else self.prefetch - 1
                if counted:
                    self._tokens = 0
                batch: list[AbstractIncomingMessage] = []
                for _ in range(1 + extra):
                    message = await queue.get(no_ack=False, fail=False, timeout=timeout)
                    if message is None:
                        break
                    batch.append(message)
                if counted:
                    self._tokens += 1 + extra - len(batch)  # unused ones wait for the next messages
                if not batch:
                    # Poll an empty intake less often the longer it stays empty.
                    idle = min(idle + 1, 5)
                    await asyncio.sleep(0.02 * 2**idle)
                    continue
                idle = 0
                await self._move(batch)
        finally:
            if not channel.is_closed:
                # Bounded: a channel whose broker went quiet must not keep a stopping mover forever.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(channel.close(), timeout)

    async def _move(self, batch: list[AbstractIncomingMessage]) -> None:
        names = self.bus.names
        sent = await asyncio.gather(
            *(
                self.bus.publish(
                    names.lanes_exchange,
                    ExchangeType.DIRECT,
                    message.body,
                    names.lane_key(self.lane, self.cluster),
                    headers=dict(message.headers or {}),
                    priority=message.priority,
                    message_id=message.message_id,
                )
                for message in batch
            ),
            return_exceptions=True,
        )
        failure: BaseException | None = None
        for message, outcome in zip(batch, sent, strict=True):
            if isinstance(outcome, BaseException):
                failure = failure or outcome
                await message.nack(requeue=True)
            else:
                await message.ack()
                self.moved += 1
                admission_metrics.JOBS_RELEASED.labels(self.lane, self.cluster).inc()
        if failure is not None:
            raise failure

    async def _token(self) -> bool:
        """Waits for a token; False when the lane and cluster have no rate (nothing was counted)."""
        while True:
            # A token held past its window is still used: each was counted once against some window,
            # so the long-run total stays within the rate, and dropping them would fall short of it.
            if self._tokens > 0:
                self._tokens -= 1
                return True
            lane_rate, cluster_rate = await self.book.rates(self.lane, self.cluster)
            if lane_rate is None and cluster_rate is None:
                return False
            index = window_index(time.time(), self.width)
            granted = await self._take(lane_rate, cluster_rate, index)
            if granted:
                self._tokens = granted
                continue
            # Spread the replicas' wake-ups a little so they do not all hit the counter at once.
            pause = window_end(index, self.width) - time.time() + random.uniform(0, 0.003)
            await asyncio.sleep(min(max(pause, 0.001), self.width))

    async def _take(self, lane_rate: float | None, cluster_rate: float | None, index: int) -> int:
        slowest = min(r for r in (lane_rate, cluster_rate) if r is not None)
        granted = batch_size(slowest, self.width, self.prefetch)
        lane_key = throttle.rate_id("lane", self.lane)
        if lane_rate is not None:
            granted = await throttle.take(
                self.db,
                lane_key,
                index,
                window_limit(lane_rate, self.width, index),
                granted,
                window_limit(lane_rate, self.width, index - 1),
            )
        if granted and cluster_rate is not None:
            got = await throttle.take(
                self.db,
                throttle.rate_id("cluster", self.cluster),
                index,
                window_limit(cluster_rate, self.width, index),
                granted,
                window_limit(cluster_rate, self.width, index - 1),
            )
            if lane_rate is not None:
                await throttle.give_back(self.db, lane_key, index, granted - got)
            granted = got
        return granted


class Movers:
    """One mover per intake queue known to the database, refreshed every ``refresh`` seconds."""

    def __init__(self, bus: Bus, db: Database, book: RateBook, width: float, refresh: float = 2.0) -> None:
        self.bus = bus
        self.db = db
        self.book = book
        self.width = width
        self.refresh = refresh
        self.movers: dict[tuple[str, str], Mover] = {}
        self._tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_loop())

    def ensure(self, lane: str, cluster: str) -> None:
        key = (lane, cluster)
        if key in self._tasks:
            return
        mover = Mover(self.bus, self.db, self.book, lane, cluster, self.width)
        self.movers[key] = mover
        self._tasks[key] = asyncio.create_task(mover.run())
        log.info("moving intake of lane %s of cluster %s", lane, cluster)

    @property
    def moved(self) -> int:
        return sum(m.moved for m in self.movers.values())

    async def _refresh_loop(self) -> None:
        while True:
            try:
                for doc in await intakes.all_intakes(self.db):
                    self.ensure(str(doc["lane"]), str(doc["cluster"]))
            except Exception:
                log.exception("could not list the intake queues")
            await asyncio.sleep(self.refresh)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        if self._refresher is not None:
            tasks.append(self._refresher)
        for task in tasks:
            task.cancel()
        self._tasks.clear()
        if not tasks:
            return
        # Each mover closes its channel within network_timeout; this bound is a backstop.
        _, stuck = await asyncio.wait(tasks, timeout=2 * self.bus.settings.network_timeout)
        if stuck:
            log.warning("%d mover(s) did not stop in time; left behind", len(stuck))
