"""One attempt's heartbeats, stored: the last beat is written to the job document
(``heartbeat_at``, ``progress``, ``status_message``) at most once per ``FLUSH_SECONDS``, so a task
may beat in a tight loop. A job submitted with ``heartbeat_timeout`` is stopped as stuck when it
stays silent that long (``Worker``), its start counting as its first beat.

``beat`` may be called from the task's thread (sync tasks): it only sets plain attributes, which
the flusher on the event loop reads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from laneyard.services.runner.heartbeats import Beat, checked
from laneyard.shared.metrics import runner as runner_metrics
from laneyard.shared.states import JobState
from laneyard.shared.store.database import Database

log = logging.getLogger(__name__)

FLUSH_SECONDS = 1.0


class Pulse:
    """One attempt's heartbeats."""

    def __init__(self, db: Database, job_id: str, attempt: int, runner_id: str, task: str) -> None:
        self.db = db
        self.job_id = job_id
        self.attempt = attempt
        self.runner_id = runner_id
        self.task = task
        self.last_beat = time.monotonic()  # the start counts as the first beat
        self._pending: Beat | None = None
        self._stored: Beat = Beat(None, None)
        self._flusher: asyncio.Task[None] | None = None
        self._closing = False

    def beat(self, progress: float | None = None, message: str | None = None) -> None:
        beat = checked(progress, message)
        # Fields not given keep their last value: a bare heartbeat does not erase the progress.
        self._pending = Beat(
            beat.progress if beat.progress is not None else (self._pending or self._stored).progress,
            beat.message if beat.message is not None else (self._pending or self._stored).message,
        )
        self.last_beat = time.monotonic()

    def silent_for(self) -> float:
        return time.monotonic() - self.last_beat

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_loop())

    async def _flush_loop(self) -> None:
        while not self._closing:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
            except Exception:
                log.warning(
                    "storing a heartbeat failed; the next one carries it", extra={"job_id": self.job_id}
                )

    async def flush(self) -> None:
        beat, self._pending = self._pending, None
        if beat is None:
            return
        runner_metrics.TASK_HEARTBEATS.labels(self.task).inc()
        if beat.progress is not None:
            runner_metrics.TASK_PROGRESS.labels(self.task).observe(beat.progress)
        # Only while this runner still holds this attempt: a late beat never touches a retry.
        await self.db["jobs"].update_one(
            {
                "_id": self.job_id,
                "state": str(JobState.RUNNING),
                "attempt": self.attempt,
                "runner": self.runner_id,
            },
            {
                "$set": {
                    "heartbeat_at": time.time(),
                    "progress": beat.progress,
                    "status_message": beat.message,
                }
            },
        )
        self._stored = beat

    async def close(self) -> None:
        self._closing = True
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._flusher
        with contextlib.suppress(Exception):
            await self.flush()
