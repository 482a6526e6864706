"""Sub-tasks spawned by a running task, admitted exactly like any other job.

``await ctx.submit_subtask(task=..., args=..., cluster=...)`` goes through the core's
``Admitter`` (cluster check, args limit, lane registration, publish with confirm, then the job
document), so a sub-task is an ordinary job that records ``parent_id``. It is not throttled by
admission's lane and cluster rates: those hold back outside clients, and a sub-task is work a job
already admitted has taken on. The parent completes only when its children have
(``shared.store.subtasks``), without holding a runner slot while it waits.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from pydantic import ValidationError

from laneyard.shared import lifecycle
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.admitting.refusal import NotAdmitted, invalid_reason
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.ids import new_job_id
from laneyard.shared.models import JobMessage, Submission
from laneyard.shared.retention import Retention
from laneyard.shared.settings import Settings
from laneyard.shared.states import TERMINAL
from laneyard.shared.store import jobs, subtasks
from laneyard.shared.store.database import Database

# Bounds the parent's document, which lists its children.
MAX_SUBTASKS = 1000


class SubtaskRejected(ValueError):
    """The sub-task was not admitted; the message says why."""


class Spawner:
    """One per runner: admits sub-tasks on behalf of the jobs it runs."""

    def __init__(self, settings: Settings, bus: Bus, db: Database) -> None:
        self.db = db
        self.admitter = Admitter(
            bus, db, settings.max_args_bytes, cache_seconds=settings.admission_cache_seconds,
            retention=Retention.of(settings),
        )  # fmt: skip
        self.timeout = settings.network_timeout

    def for_job(self, job: JobMessage, attempt: int) -> JobSpawner:
        return JobSpawner(self, job, attempt, asyncio.get_running_loop())


class JobSpawner:
    """Sub-tasks of one attempt of one job; ``spawned`` is what the parent will wait for."""

    def __init__(
        self, spawner: Spawner, job: JobMessage, attempt: int, loop: asyncio.AbstractEventLoop
    ) -> None:
        self.spawner = spawner
        self.job = job
        self.attempt = attempt
        self.loop = loop
        self.spawned: list[str] = []

    async def submit(
        self,
        task: str,
        args: dict[str, Any] | None = None,
        cluster: str | None = None,
        *,
        optional: bool = False,
        **fields: Any,
    ) -> str:
        """Admits a child job and returns its id. Lane, cluster, priority and tier default to the
        parent's; any other submission field may be given. ``optional``: its failure does not
        fail the parent."""
        if len(self.spawned) >= MAX_SUBTASKS:
            raise SubtaskRejected(f"a job may spawn at most {MAX_SUBTASKS} sub-tasks per attempt")
        parent = self.job
        body = {
            "lane": parent.lane,
            "priority": parent.priority,
            "tier": str(parent.tier),
            **fields,
            "cluster": cluster or parent.cluster,
            "task": task,
            "args": args or {},
        }
        try:
            sub = Submission.model_validate(body)
        except ValidationError as exc:
            raise SubtaskRejected(invalid_reason(exc)) from exc
        db = self.spawner.db
        child_id = new_job_id()
        if not await subtasks.register(db, parent.id, self.attempt, child_id, optional=optional):
            raise SubtaskRejected(f"job {parent.id} is no longer running attempt {self.attempt}")
        try:
            result = await self.spawner.admitter.admit(sub, child_id, parent_id=parent.id)
        except BaseException as exc:
            # Not admitted (or maybe, after a timeout): the parent must not wait for it either way.
            with contextlib.suppress(Exception):
                await subtasks.unregister(db, parent.id, child_id)
            if isinstance(exc, NotAdmitted) and not exc.transient:
                raise SubtaskRejected(exc.message) from exc
            raise
        if result.duplicate:
            await subtasks.unregister(db, parent.id, child_id)
            child_id = await self._adopt(result.id, optional)
        self.spawned.append(child_id)
        return child_id

    async def _adopt(self, owner: str, optional: bool) -> str:
        """An idempotency key already made this child (in an earlier attempt of the parent): the
        parent waits for that job instead, so a retried parent does not spawn its children twice."""
        db, parent = self.spawner.db, self.job
        doc = await jobs.get(db, owner)
        if doc is None or doc.get("parent_id") != parent.id:
            raise SubtaskRejected(
                f"the idempotency key belongs to job {owner}, not a sub-task of {parent.id}"
            )
        if not await subtasks.register(db, parent.id, self.attempt, owner, optional=optional):
            raise SubtaskRejected(f"job {parent.id} is no longer running attempt {self.attempt}")
        # It may have ended before it was registered again, when its end found no place to go.
        doc = await jobs.get(db, owner)
        if doc is not None and doc["state"] in TERMINAL:
            await lifecycle.child_ended(db, doc)
        return owner

    def submit_blocking(
        self, task: str, args: dict[str, Any] | None = None, cluster: str | None = None, **kw: Any
    ) -> str:
        """``submit`` for a sync task, which runs in a worker thread."""
        future = asyncio.run_coroutine_threadsafe(self.submit(task, args, cluster, **kw), self.loop)
        return future.result(self.spawner.timeout * 3)
