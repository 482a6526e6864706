"""Movers: each admission replica moves every intake queue into its lane at the pace of the lane, the
cluster and, for a job key's intake, the key.

Tokens come from the shared window counters, so replicas together stay within the rate; each mover
takes a few at a time and moves one message per token (publish to the lane, confirmed, then ack).
Messages are fetched one at a time (basic.get) only once a token is held, so the backlog waits in
the intake queue, visible and in order, rather than in a mover's prefetch. A mover whose lane has
no rate any more drains its intake at full speed. A key's mover stops once its queue has been
empty and unused for a while (``intake.KEY_IDLE_SECONDS``), and deletes the queue if still empty.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, ExchangeType

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.fair_shards import lane_route
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
        key: str | None = None,
    ) -> None:
        self.bus = bus
        self.db = db
        self.book = book
        self.lane = lane
        self.cluster = cluster
        self.width = width
        self.prefetch = prefetch
        self.key = key
        self.moved = 0
        self._tokens = 0

    async def run(self) -> None:
        """Runs until cancelled, or a key's intake went idle; a lost channel or broker is retried
        rather than ending the mover."""
        while True:
            try:
                await self._consume()
                return
            except asyncio.CancelledError:
                raise
            except Exception:
                if self.key is not None and await self._key_forgotten():
                    return  # another replica's mover deleted the idle queue
                log.exception("mover of %s failed; restarting", self.describe())
                await asyncio.sleep(1.0)

    def describe(self) -> str:
        where = f"lane {self.lane} of cluster {self.cluster}"
        return where if self.key is None else f"key {self.key} in {where}"

    async def _consume(self) -> None:
        channel, topology = await self.bus.consumer_channel(1)
        timeout = self.bus.settings.network_timeout
        idle = 0
        empty_since: float | None = None
        try:
            queue = await intake.declare(topology, self.lane, self.cluster, self.key)
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
                    empty_since = empty_since or time.monotonic()
                    if await self._retire(queue, time.monotonic() - empty_since):
                        log.info("mover of %s stops: its intake stayed empty", self.describe())
                        return
                    # Poll an empty intake less often the longer it stays empty.
                    idle = min(idle + 1, 5)
                    await asyncio.sleep(0.02 * 2**idle)
                    continue
                idle, empty_since = 0, None
                await self._move(batch)
        finally:
            if not channel.is_closed:
                # Bounded: a channel whose broker went quiet must not keep a stopping mover forever.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(channel.close(), timeout)

    async def _key_forgotten(self) -> bool:
        assert self.key is not None
        with contextlib.suppress(Exception):
            return await intakes.intake_doc(self.db, self.lane, self.cluster, self.key) is None
        return False

    async def _retire(self, queue: AbstractQueue, empty_for: float) -> bool:
        """Ends a key's idle intake: its record first (unless admission touched it meanwhile), then
        the queue, only if still empty; a job that came in between keeps both."""
        if self.key is None or empty_for < intake.KEY_IDLE_SECONDS:
            return False
        doc = await intakes.intake_doc(self.db, self.lane, self.cluster, self.key)
        touched = doc.get("touched_at") if doc is not None else None
        since = time.time() - float(touched or 0)
        if not intake.key_queue_idle(empty_for, since):
            return False
        if doc is not None and not await intakes.forget(self.db, self.lane, self.cluster, self.key, touched):
            return False
        timeout = self.bus.settings.network_timeout
        try:
            await asyncio.wait_for(queue.delete(if_unused=False, if_empty=True), timeout)
        except Exception:
            # Not empty after all (the broker refused and closed the channel): keep moving it.
            await intakes.register(self.db, self.lane, self.cluster, self.key)
            raise
        return True

    async def _move(self, batch: list[AbstractIncomingMessage]) -> None:
        names = self.bus.names
        sent = await asyncio.gather(
            *(
                self.bus.publish(
                    names.lanes_exchange,
                    ExchangeType.DIRECT,
                    message.body,
                    lane_route(message, names.lane_key(self.lane, self.cluster)),
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
        """Waits for a token; False when no rate applies (nothing was counted)."""
        while True:
            # A token held past its window is still used: each was counted once against some window,
            # so the long-run total stays within the rate, and dropping them would fall short of it.
            if self._tokens > 0:
                self._tokens -= 1
                return True
            limits = await self.book.limits(self.lane, self.cluster, self.key)
            if not limits:
                return False
            index = window_index(time.time(), self.width)
            granted = await self._take(limits, index)
            if granted:
                self._tokens = granted
                continue
            # Spread the replicas' wake-ups a little so they do not all hit the counter at once.
            pause = window_end(index, self.width) - time.time() + random.uniform(0, 0.003)
            await asyncio.sleep(min(max(pause, 0.001), self.width))

    async def _take(self, limits: list[tuple[str, float]], index: int) -> int:
        """Takes the same number of tokens from every counter that applies (key, lane, cluster),
        giving back to the earlier ones what a later one did not have."""
        granted = batch_size(min(rate for _, rate in limits), self.width, self.prefetch)
        taken: list[tuple[str, int]] = []
        for counter, rate in limits:
            if granted <= 0:
                break
            got = await throttle.take(
                self.db,
                counter,
                index,
                window_limit(rate, self.width, index),
                granted,
                window_limit(rate, self.width, index - 1),
            )
            for earlier, had in taken:
                await throttle.give_back(self.db, earlier, index, had - got)
            taken = [(earlier, got) for earlier, _ in taken]
            taken.append((counter, got))
            granted = got
        return granted


IntakeKey = tuple[str, str, str | None]  # lane, cluster, job key (None: the lane's own intake)


class Movers:
    """One mover per intake queue known to the database, refreshed every ``refresh`` seconds: every
    lane's and cluster's, and every job key's until its mover finds it idle."""

    def __init__(self, bus: Bus, db: Database, book: RateBook, width: float, refresh: float = 2.0) -> None:
        self.bus = bus
        self.db = db
        self.book = book
        self.width = width
        self.refresh = refresh
        self.movers: dict[IntakeKey, Mover] = {}
        self._tasks: dict[IntakeKey, asyncio.Task[None]] = {}
        self._refresher: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_loop())

    def ensure(self, lane: str, cluster: str, key: str | None = None) -> None:
        ident = (lane, cluster, key)
        if ident in self._tasks:
            return
        mover = Mover(self.bus, self.db, self.book, lane, cluster, self.width, key=key)
        previous = self.movers.get(ident)
        mover.moved = previous.moved if previous is not None else 0
        self.movers[ident] = mover
        task = self._tasks[ident] = asyncio.create_task(mover.run())
        # A key's mover ends when its queue goes idle; a later job for the key starts a new one.
        task.add_done_callback(
            lambda done: self._tasks.pop(ident, None) if self._tasks.get(ident) is done else None
        )
        log.info("moving intake of %s", mover.describe())

    @property
    def moved(self) -> int:
        return sum(m.moved for m in self.movers.values())

    async def _refresh_loop(self) -> None:
        while True:
            try:
                for doc in await intakes.all_intakes(self.db):
                    key = doc.get("key")
                    self.ensure(str(doc["lane"]), str(doc["cluster"]), None if key is None else str(key))
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
