"""A job's log lines, buffered and written to MongoDB in chunks, in order, with timestamps.

Storage per attempt is bounded: past ``max_lines`` the rest is dropped and the last chunk says
where the log was cut.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from shared.store import logs
from shared.store.database import Database

log = logging.getLogger(__name__)


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
        self._pending: list[dict[str, Any]] = []
        self._count = 0
        self._chunk = 0
        self._truncated = False
        self._lock = asyncio.Lock()
        self._flusher: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def add(self, stream: str, message: str) -> None:
        if self._count >= self.max_lines:
            self._truncated = True
            return
        self._count += 1
        self._pending.append({"t": time.time(), "s": stream, "m": message[:8192]})
        if len(self._pending) >= self.batch_lines:
            self._wake.set()

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_seconds)
            except TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except Exception:
                log.exception("writing log lines failed; they are kept for the next flush")

    async def flush(self) -> None:
        async with self._lock:
            if not self._pending and not (self._truncated and self._chunk == 0):
                return
            lines, self._pending = self._pending, []
            try:
                await logs.write_chunk(
                    self.db, self.job_id, self.attempt, self._chunk, lines, self._truncated
                )
            except Exception:
                self._pending[:0] = lines
                raise
            self._chunk += 1

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            self._flusher = None
        await self.flush()

    @property
    def chunks(self) -> int:
        return self._chunk
