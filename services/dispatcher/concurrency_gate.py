"""Concurrency keys in the dispatcher: a job takes a slot of its key before it is forwarded, or is
parked until one is free.

A job whose key has no free slot is published to the key's park queue (``<p>.ckey.<hash>``), which
nobody consumes, and acked: it waits there, in RabbitMQ, holding no capacity and costing nothing
until a slot frees. Slots free when jobs end (``shared.lifecycle``, in whichever process ends them);
this dispatcher then moves one parked job per free slot back into its lane (``basic.get``, publish,
ack), on every capacity report (a runner reports as soon as a job ends) and housekeeping tick, for
the keys it parked jobs of, and on the lease holder's sweep for every key marked parked in the
database (``concurrency_sweep.py``), which covers keys another dispatcher parked before a handover.
A moved job takes its slot like any other; if another job took it first, it is parked again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aio_pika.abc import AbstractIncomingMessage, ExchangeType
from pydantic import ValidationError

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.concurrency_limits import free_slots, in_force, limit_for
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import concurrency_overrides, concurrency_slots
from laneyard.shared.store.concurrency_slots import Slots, Took
from laneyard.shared.store.database import Database

log = logging.getLogger(__name__)

# Parked jobs moved back per key per wake, and keys remembered as parked here (the database marks
# are the full list; this set only makes wakes prompt).
MAX_MOVES_PER_KEY = 256
MAX_REMEMBERED_KEYS = 10_000


class ConcurrencyGate:
    def __init__(self, bus: Bus, db: Database, settings: Settings, held: Callable[[], bool]) -> None:
        self.bus = bus
        self.db = db
        self.held = held
        self.timeout = settings.network_timeout
        self.settings_limits = settings.concurrency_limits
        self.limits: dict[str, int] = in_force(self.settings_limits, {})
        self.parked: set[str] = set()
        self._moving = asyncio.Lock()
        self._again = False

    def limit_of(self, key: str | None) -> int | None:
        """The key's limit, None for no key or an unbounded one (such jobs take no slot)."""
        return None if key is None else limit_for(key, self.limits)

    async def refresh(self) -> None:
        overrides = await asyncio.wait_for(concurrency_overrides.all_limits(self.db), self.timeout)
        self.limits = in_force(self.settings_limits, overrides)

    async def take(self, job: JobMessage, limit: int) -> Took:
        assert job.concurrency_key is not None
        return await asyncio.wait_for(
            concurrency_slots.take(self.db, job.concurrency_key, job.id, limit), self.timeout
        )

    async def give_back(self, job: JobMessage) -> None:
        assert job.concurrency_key is not None
        await asyncio.wait_for(concurrency_slots.release(self.db, job.concurrency_key, job.id), self.timeout)

    async def park(self, job: JobMessage, message: AbstractIncomingMessage) -> None:
        """Into the key's park queue, then marked parked (in that order: see ``mark_parked``)."""
        key = job.concurrency_key
        assert key is not None
        names = self.bus.names
        await self.bus.topology.park_queue(key)
        await self.bus.publish(
            names.park_exchange, ExchangeType.DIRECT, message.body, names.park_key(key),
            priority=job.priority, message_id=job.id,
        )  # fmt: skip
        await asyncio.wait_for(concurrency_slots.mark_parked(self.db, key), self.timeout)
        if len(self.parked) < MAX_REMEMBERED_KEYS:
            self.parked.add(key)

    async def wake(self) -> None:
        """Moves parked jobs of the keys parked here back while their keys have free slots. A wake
        asked for while one runs is run once more after it, not alongside it."""
        if not self.held() or not self.parked:
            return
        if self._moving.locked():
            self._again = True
            return
        async with self._moving:
            self._again = True
            while self._again and self.parked:
                self._again = False
                keys = sorted(self.parked)
                found = await asyncio.wait_for(concurrency_slots.of_keys(self.db, keys), self.timeout)
                for key in keys:
                    await self.move_back(key, found.get(key))

    async def move_back(self, key: str, slots: Slots | None) -> int:
        """One parked job of ``key`` per free slot back into its lane; returns how many moved."""
        limit = self.limit_of(key)
        running = slots.running if slots is not None else 0
        wanted = MAX_MOVES_PER_KEY if limit is None else min(free_slots(limit, running), MAX_MOVES_PER_KEY)
        if wanted == 0 or not self.held():
            return 0
        seen_seq = slots.park_seq if slots is not None else 0  # read before the queue is looked at
        queue = await self.bus.topology.park_queue(key)
        moved = 0
        bound = self.timeout
        while moved < wanted:
            message = await asyncio.wait_for(queue.get(no_ack=False, fail=False, timeout=bound), bound)
            if message is None:
                if await asyncio.wait_for(concurrency_slots.clear_parked(self.db, key, seen_seq), bound):
                    self.parked.discard(key)
                break
            try:
                job = JobMessage.model_validate_json(message.body)
            except ValidationError as exc:
                # Only the dispatcher parks, and only messages it decoded: kept, not dropped.
                why = f"undecodable parked job message: {exc.errors()[:3]}"
                await self.bus.dead_letter(message.body, why)
                await message.ack()
                continue
            await self.bus.to_lane(job)
            await message.ack()
            moved += 1
        if moved:
            log.debug("moved %d parked job(s) of concurrency key %s back to their lanes", moved, key)
        return moved
