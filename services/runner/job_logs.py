"""A job's log lines, buffered and written to MongoDB in chunks, in order, with timestamps.

Storage per attempt is bounded: past ``max_lines`` the rest is counted and dropped, and when the
attempt ends a final line says where the log was cut and how much was lost. A retried attempt
has a log (and a bound) of its own, so a flaky first attempt cannot crowd out the last one's log.
"""

from __future__ import annotations

import asyncio
import logging
import time

from laneyard.shared.store import logs
from laneyard.shared.store.database import Database

log = logging.getLogger(__name__)

MAX_LINE_CHARS = 8192


class LogBuffer:
    def __init__(
        self,
        db: Database,
        job_id: str,
        attempt: int,
        batch_lines: int,
        max_lines: int,
        flush_seconds: float = 0.5,
    ) -> None:
        self.db = db
        self.job_id = job_id
        self.attempt = attempt
        self.batch_lines = batch_lines
        self.max_lines = max_lines
        self.flush_seconds = flush_seconds
        self._pending: list[logs.Line] = []  # accepted, not stored yet
        self._open: list[logs.Line] = []  # stored lines of the partly filled last chunk
        self._stored = 0  # lines stored so far: the seq of the last one
        self._accepted = 0
        self.dropped = 0
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._closing = False

    def add(self, stream: str, message: str) -> None:
        if self._accepted >= self.max_lines:
            self.dropped += 1
            return
        self._accepted += 1
        self._pending.append({"t": time.time(), "s": stream, "m": message[:MAX_LINE_CHARS]})
        if len(self._pending) >= self.batch_lines:
            self._wake.set()

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while not self._closing:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            if self._closing:
                return  # close() does the last flush
            try:
                await self.flush()
            except Exception:
                log.exception("writing log lines failed; they are kept for the next flush")

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending:
                return
            pending = self._pending
            self._pending = []
            lines = self._open + pending
            first_chunk = (self._stored - len(self._open)) // logs.CHUNK_LINES
            chunks = [lines[i : i + logs.CHUNK_LINES] for i in range(0, len(lines), logs.CHUNK_LINES)]
            try:
                await logs.write_chunks(self.db, self.job_id, self.attempt, first_chunk, chunks)
            except BaseException:
                # Also on cancellation: the lines are written again (chunk writes are replaces).
                self._pending[:0] = pending
                raise
            self._stored += len(pending)
            self._open = chunks[-1] if len(chunks[-1]) < logs.CHUNK_LINES else []

    async def close(self) -> None:
        if self._flusher is not None:
            # Stopped by a flag, not cancelled: on Python 3.11 wait_for() can swallow a cancel that
            # races with the wake-up, and the loop would then never end. A flush in progress is
            # finished first (shielded, so a cancelled close() does not cut it short either).
            self._closing = True
            self._wake.set()
            await asyncio.shield(self._flusher)
            self._flusher = None
        if self.dropped:
            # Not subject to the bound: it is the one line that says the bound was hit.
            cut = f"[laneyard] log cut after {self.max_lines} lines; {self.dropped} more lines dropped"
            self._pending.append({"t": time.time(), "s": "laneyard", "m": cut})
            self.dropped = 0
        await self.flush()

    @property
    def stored(self) -> int:
        return self._stored
