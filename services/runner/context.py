"""What a running task can see and use: its job, and a logger whose lines are stored with the job."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from services.runner.job_logs import LogBuffer


@dataclass
class TaskContext:
    job_id: str
    attempt: int
    runner_id: str
    cluster: str
    logs: LogBuffer
    # For a job a schedule created: the schedule, and when its previous successful run completed
    # (None on its first run), e.g. to process only what arrived since then.
    schedule_id: str | None = None
    last_completed_at: datetime | None = None

    @staticmethod
    def utc(epoch: float | None) -> datetime | None:
        """An epoch time from the job message as the aware UTC datetime a task is given."""
        return None if epoch is None else datetime.fromtimestamp(epoch, UTC)

    def log(self, message: str) -> None:
        self.logs.add("log", message)
