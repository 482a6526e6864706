"""What a running task can see and use: its job, and a logger whose lines are stored with the job."""

from __future__ import annotations

from dataclasses import dataclass

from services.runner.job_logs import LogBuffer


@dataclass
class TaskContext:
    job_id: str
    attempt: int
    runner_id: str
    cluster: str
    logs: LogBuffer

    def log(self, message: str) -> None:
        self.logs.add("log", message)
