"""One admission replica's view of the event log: the newest events in memory, older ones read.

A tail task reads the log's new end every ``poll`` seconds (at once when this replica's sequencer
appended) into a bounded ring, and wakes the streams. A stream behind the ring (a slow client, or
a resume from long ago) reads the log itself a page at a time, so no client makes the replica
buffer more than the ring. The tail runs while any stream does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass

from laneyard.shared.store import event_log
from laneyard.shared.store.database import Database, Doc

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Page:
    events: list[Doc]
    # Set when the events after the cursor were pruned: the number to carry on after.
    skipped_to: int | None = None


class Feed:
    def __init__(self, db: Database, *, poll: float, keep: int = 10_000, page: int = 500) -> None:
        self.db = db
        self.poll = poll
        self.page = page
        self._ring: deque[Doc] = deque(maxlen=keep)
        self._last = 0  # the highest number read
        self._changed = asyncio.Condition()
        self._wake = asyncio.Event()
        self._tail: asyncio.Task[None] | None = None
        self._streams = 0

    @property
    def last(self) -> int:
        return self._last

    async def end(self) -> int:
        """The newest number in the log, read now."""
        newest = await event_log.last(self.db)
        return int(newest["_id"]) if newest else 0

    def wake(self) -> None:
        """New events are in the log (this replica's sequencer appended them)."""
        self._wake.set()

    @contextlib.asynccontextmanager
    async def following(self) -> AsyncIterator[None]:
        """Keeps the tail running for one stream."""
        self._streams += 1
        try:
            if self._tail is None or self._tail.done():
                self._last = max(self._last, await self.end())
                self._tail = asyncio.create_task(self._tail_loop(), name="events-tail")
            yield
        finally:
            self._streams -= 1
            if self._streams == 0 and self._tail is not None:
                self._tail.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._tail
                self._tail = None

    async def _tail_loop(self) -> None:
        while True:
            try:
                run = await event_log.after(self.db, self._last, self.page)
            except Exception:
                log.exception("reading the event log failed; trying again")
                run = []
            if run:
                if self._ring and int(self._ring[-1]["_id"]) != int(run[0]["_id"]) - 1:
                    self._ring.clear()  # the ring holds one unbroken run of numbers
                self._ring.extend(run)
                self._last = int(run[-1]["_id"])
                async with self._changed:
                    self._changed.notify_all()
                if len(run) == self.page:
                    continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.poll)

    async def read(self, after: int) -> Page:
        """The events after number ``after`` known to this replica, a page at most."""
        if self._ring and int(self._ring[0]["_id"]) <= after + 1:
            start = after + 1 - int(self._ring[0]["_id"])
            return Page([self._ring[i] for i in range(start, min(len(self._ring), start + self.page))])
        if after >= self._last:
            return Page([])
        run = await event_log.after(self.db, after, min(self.page, self._last - after))
        if run:
            return Page(run)
        oldest = await event_log.first(self.db)  # pruned: carry on from the oldest kept
        if oldest is not None and int(oldest["_id"]) > after + 1:
            return Page([], skipped_to=int(oldest["_id"]) - 1)
        return Page([])

    async def wait_beyond(self, after: int, within: float) -> bool:
        """Waits until this replica knows an event after ``after``; False if none came ``within``."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(lambda: self._last > after), within)
            except TimeoutError:
                return False
        return True
