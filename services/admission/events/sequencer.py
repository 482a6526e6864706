"""Numbers staged state changes into the event log, on the admission replica holding the
``events`` lease; and prunes the log to its retention window.

Every round reads the oldest intents, the jobs they name (by ``_id``), decides which changes
happened (``shared.event_sequencing``), appends those in order and withdraws what it settled. One
writer of the log makes one order, the same for every replica; the natural keys of the events
appended last are remembered so that a round cut short (a crash between append and withdraw, a
lost race with another sequencer) appends nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections import deque
from collections.abc import Callable

from pymongo.errors import BulkWriteError, DuplicateKeyError

from laneyard.shared import event_sequencing
from laneyard.shared.store import event_intents, event_log
from laneyard.shared.store.database import Database
from laneyard.shared.store.leases import Lease

log = logging.getLogger(__name__)

REMEMBER = 20_000  # natural keys of the newest events, more than a round appends


class Sequencer:
    def __init__(
        self,
        db: Database,
        *,
        retention_seconds: float,
        settle_seconds: float,
        poll: float = 0.05,
        batch: int = 1000,
        prune_every: float = 30.0,
        lease_seconds: float = 5.0,
        on_append: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.retention_seconds = retention_seconds
        self.settle_seconds = settle_seconds
        self.poll = poll
        self.batch = batch
        self.prune_every = prune_every
        self.on_append = on_append
        holder = f"admission-{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self.lease = Lease(db, "events", holder, ttl=lease_seconds)
        self._next: int | None = None  # None: read the log's end before appending
        self._recent: deque[str] = deque(maxlen=REMEMBER)
        self._seen: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.appended = 0
        self.dropped = 0

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="events-sequencer")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.lease.release(), 5)

    async def run(self) -> None:
        renewed = pruned = 0.0
        while True:
            try:
                now = time.monotonic()
                if now - renewed >= 1.0:
                    if not await self.lease.renew():
                        self._next = None  # another sequencer appends meanwhile
                    renewed = now
                if not self.lease.held:
                    await asyncio.sleep(1.0)
                    continue
                if now - pruned >= self.prune_every:
                    await self.prune()
                    pruned = now
                if await self.step() < self.batch:
                    await asyncio.sleep(self.poll)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("sequencing events failed; trying again")
                self._next = None
                await asyncio.sleep(1.0)

    async def step(self) -> int:
        """One round; returns how many events it appended."""
        intents = await event_intents.oldest(self.db, self.batch)
        if not intents:
            return 0
        if self._next is None:
            await self._load()
        assert self._next is not None
        ids = sorted({i["job_id"] for i in intents})
        found = self.db["jobs"].find({"_id": {"$in": ids}}, event_sequencing.JOB_FIELDS)
        jobs = {d["_id"]: d async for d in found}
        decision = event_sequencing.decide(
            intents, jobs, now=time.time(), settle_seconds=self.settle_seconds, seen=self._seen
        )
        numbered = [{**e, "_id": self._next + i} for i, e in enumerate(decision.events)]
        try:
            await event_log.append(self.db, numbered)
        except (BulkWriteError, DuplicateKeyError):
            # Another sequencer took these numbers: read what it wrote, then try again.
            self._next = None
            return 0
        self._next += len(numbered)
        for event in numbered:
            self._remember(event["key"])
        await event_intents.withdraw(self.db, decision.settled)
        self.appended += len(numbered)
        self.dropped += decision.dropped
        if decision.dropped:
            log.warning("dropped %d event intents whose change never happened", decision.dropped)
        if numbered and self.on_append is not None:
            self.on_append()
        return len(numbered)

    async def _load(self) -> None:
        newest = await event_log.last(self.db)
        end = int(newest["_id"]) if newest else 0
        self._recent.clear()
        self._seen.clear()
        start = max(1, end + 1 - REMEMBER)
        for chunk in range(start, end + 1, 1000):
            numbers = list(range(chunk, min(end + 1, chunk + 1000)))
            async for doc in self.db[event_log.COLLECTION].find({"_id": {"$in": numbers}}, {"key": True}):
                self._remember(str(doc.get("key")))
        self._next = end + 1

    def _remember(self, key: str) -> None:
        if len(self._recent) == self._recent.maxlen:
            self._seen.discard(self._recent[0])
        self._recent.append(key)
        self._seen.add(key)

    async def prune(self) -> int:
        """Deletes the events older than the retention window, always keeping the newest (it
        carries the numbering on)."""
        newest = await event_log.last(self.db)
        if newest is None:
            return 0
        cut = await event_log.first_at_or_after(self.db, time.time() - self.retention_seconds)
        cut = int(newest["_id"]) if cut is None else min(cut, int(newest["_id"]))
        return await event_log.prune_before(self.db, cut)
