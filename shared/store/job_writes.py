"""The hot path's job writes, coalesced: many inserts and state changes in one bulk write.

Every job is inserted once and changes state three times on its way through, and every one of
those writes used to be its own round trip. On the embedded MongoDB-wire server a single write
costs about a millisecond of its (single-threaded) time and a bulk write of a hundred about twenty
milliseconds, so writes that arrive within ``linger`` of each other go out together.

The semantics are those of ``jobs.insert`` and ``jobs.transition``: an insert never overwrites,
and a state change is a single-document update filtered on the state it leaves, so it happens at
most once. A bulk write reports only how many updates matched, not which: when fewer matched than
were sent, the batch's documents are read back and an update counts as done if the document
carries the token it wrote. A batch holds at most one write per job, so a later write of the same
job (RUNNING then COMPLETED) waits for the next batch and is applied in order.

Each batch first stages the event intents of its writes (``shared.store.event_intents``, one more
bulk insert) and withdraws those of writes that did not happen, so the event stream misses none.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from pymongo import InsertOne, UpdateOne
from pymongo.errors import BulkWriteError

from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState
from laneyard.shared.store import event_intents, jobs
from laneyard.shared.store.database import Database, Doc

log = logging.getLogger(__name__)

DUPLICATE_KEY = 11000


@dataclass
class _Write:
    job_id: str
    op: InsertOne[Any] | UpdateOne
    token: str | None  # updates only: the value of ``write_token`` they set
    intent: Doc  # its event intent, staged with the batch before the batch's job writes
    done: asyncio.Future[bool] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class JobWrites:
    def __init__(
        self,
        db: Database,
        *,
        linger: float = 0.002,
        max_batch: int = 256,
        max_pending: int = 10_000,
        timeout: float = 10.0,
    ) -> None:
        self.db = db
        self.linger = linger
        self.max_batch = max_batch
        self.timeout = timeout
        self._pending: deque[_Write] = deque()
        self._room = asyncio.Semaphore(max_pending)  # bounds what callers can pile up
        self._wake = asyncio.Event()
        self._flusher: asyncio.Task[None] | None = None
        self.batches = 0
        self.writes = 0

    async def insert(self, job: JobMessage) -> bool:
        """Records the job as IN_QUEUE; False if it is already recorded."""
        doc = jobs.new_job_doc(job)
        return await self._submit(_Write(job.id, InsertOne(doc), None, jobs.insert_intent(doc)))

    async def transition(
        self,
        job_id: str,
        *,
        sources: frozenset[JobState] | set[JobState],
        target: JobState,
        attempt: int,
        where: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
        now: float | None = None,
    ) -> bool:
        """Like ``jobs.transition``, batched; True if the job was in one of ``sources``."""
        token = secrets.token_hex(8)
        at = time.time() if now is None else now
        query, update = jobs.transition_update(
            job_id, sources=sources, target=target, attempt=attempt, where=where,
            fields={**(fields or {}), "write_token": token}, now=at,
        )  # fmt: skip
        intent = event_intents.intent(job_id, attempt, target, at, fields)
        return await self._submit(_Write(job_id, UpdateOne(query, update), token, intent))

    async def _submit(self, write: _Write) -> bool:
        await asyncio.wait_for(self._room.acquire(), self.timeout)
        try:
            self._pending.append(write)
            self._wake.set()
            if self._flusher is None or self._flusher.done():
                self._flusher = asyncio.create_task(self._flush_loop(), name="job-writes")
            return await asyncio.wait_for(asyncio.shield(write.done), 2 * self.timeout)
        finally:
            self._room.release()

    async def _flush_loop(self) -> None:
        while self._pending:
            self._wake.clear()
            # Let concurrent writers join the batch; under load the previous flush was the wait.
            await asyncio.sleep(self.linger)
            batch = self._take_batch()
            try:
                await self._flush(batch)
            except Exception as exc:
                for w in batch:
                    if not w.done.done():
                        w.done.set_exception(exc)

    def _take_batch(self) -> list[_Write]:
        batch: list[_Write] = []
        held: list[_Write] = []
        ids: set[str] = set()
        while self._pending and len(batch) < self.max_batch:
            w = self._pending.popleft()
            (held if w.job_id in ids else batch).append(w)
            ids.add(w.job_id)
        self._pending.extendleft(reversed(held))  # in their order, ahead of later writes
        return batch

    async def _flush(self, batch: list[_Write]) -> None:
        self.batches += 1
        self.writes += len(batch)
        failed: set[int] = set()
        # Staged first: a crash after the job writes still leaves their events to be found.
        await asyncio.wait_for(event_intents.stage(self.db, [w.intent for w in batch]), self.timeout)
        try:
            result = await asyncio.wait_for(
                self.db["jobs"].bulk_write([w.op for w in batch], ordered=False), self.timeout
            )
            matched = result.matched_count
        except BulkWriteError as exc:
            errors = exc.details.get("writeErrors", [])
            if any(e.get("code") != DUPLICATE_KEY for e in errors):
                raise
            failed = {int(e["index"]) for e in errors}
            matched = int(exc.details.get("nMatched", 0))
        updates = [i for i, w in enumerate(batch) if w.token is not None]
        if len(updates) != matched:
            failed |= await self._unmatched(batch, updates)
        if failed:
            withdrawn = [batch[i].intent["_id"] for i in failed]
            await asyncio.wait_for(event_intents.withdraw(self.db, withdrawn), self.timeout)
        for i, w in enumerate(batch):
            if not w.done.done():
                w.done.set_result(i not in failed)

    async def _unmatched(self, batch: list[_Write], updates: list[int]) -> set[int]:
        ids = [batch[i].job_id for i in updates]
        found = self.db["jobs"].find({"_id": {"$in": ids}}, {"write_token": 1})
        tokens = {d["_id"]: d.get("write_token") async for d in found}
        return {i for i in updates if tokens.get(batch[i].job_id) != batch[i].token}

    async def close(self) -> None:
        """Flushes what is pending (bounded by the timeout)."""
        if self._flusher is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._flusher), self.timeout)

    def stats(self) -> tuple[int, int]:
        return self.batches, self.writes
