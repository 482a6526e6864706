"""What a running task can see and use: its job, a logger whose lines are stored with the job, and
the means to spawn sub-tasks that the job then waits for."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from laneyard.services.runner.job_logs import LogBuffer
from laneyard.services.runner.pulse import Pulse
from laneyard.services.runner.subtasks import JobSpawner


@dataclass
class TaskContext:
    job_id: str
    attempt: int
    runner_id: str
    cluster: str
    logs: LogBuffer
    spawner: JobSpawner | None = field(default=None, repr=False)
    # For a job a schedule created: the schedule, and when its previous successful run completed
    # (None on its first run), e.g. to process only what arrived since then.
    schedule_id: str | None = None
    last_completed_at: datetime | None = None
    pulse: Pulse | None = field(default=None, repr=False)

    @staticmethod
    def utc(epoch: float | None) -> datetime | None:
        """An epoch time from the job message as the aware UTC datetime a task is given."""
        return None if epoch is None else datetime.fromtimestamp(epoch, UTC)

    def log(self, message: str) -> None:
        self.logs.add("log", message)

    def heartbeat(self, progress: float | None = None, message: str | None = None) -> None:
        """Says the task is alive, optionally how far it got (0 to 1) and a short status line (at
        most 200 characters). Cheap to call often: the job records the last one about once a second.
        A job submitted with ``heartbeat_timeout`` is stopped as stuck if this is not called within
        that many seconds. Safe from sync tasks (their thread) and async ones alike."""
        if self.pulse is not None:
            self.pulse.beat(progress, message)

    async def submit_subtask(
        self,
        task: str,
        args: dict[str, Any] | None = None,
        cluster: str | None = None,
        *,
        optional: bool = False,
        **fields: Any,
    ) -> str:
        """Admits a sub-task (to this job's cluster unless ``cluster`` is given) and returns its
        id. This job completes only once its sub-tasks have; one that fails fails this job
        (reason ``subtask failed``) unless it was submitted with ``optional=True``. Raises
        ``SubtaskRejected`` with the reason if admission refuses it."""
        return await self._spawner().submit(task, args, cluster, optional=optional, **fields)

    def submit_subtask_blocking(
        self, task: str, args: dict[str, Any] | None = None, cluster: str | None = None, **kw: Any
    ) -> str:
        """``submit_subtask`` for a sync task (which runs in a thread, not on the event loop)."""
        return self._spawner().submit_blocking(task, args, cluster, **kw)

    @property
    def subtasks(self) -> list[str]:
        """Ids of the sub-tasks this attempt has spawned so far."""
        return list(self.spawner.spawned) if self.spawner is not None else []

    def _spawner(self) -> JobSpawner:
        if self.spawner is None:
            raise RuntimeError("this runner cannot spawn sub-tasks")
        return self.spawner
