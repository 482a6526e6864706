"""A stored job as the services read it: a typed model of the job document, not a dict walked by
hand. Unknown fields are kept (``extra="allow"``), so a document written by a newer version reads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.tiers import Tier


class JobRecord(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Field(alias="_id")
    task: str
    args: dict[str, Any] = Field(default_factory=dict)  # empty when read without args
    lane: str
    cluster: str
    priority: int = 5
    tier: Tier = Tier.LARGE
    max_execution_time: float = 3600.0
    max_retries: int = 0
    retry_backoff: float = 1.0
    slots: int = 1
    heartbeat_timeout: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str | None = None
    parent_id: str | None = None
    schedule_id: str | None = None
    last_completed_at: float | None = None
    retention_days: float | None = None
    callback_url: str | None = None
    concurrency_key: str | None = None
    fairness_key: str | None = None
    state: JobState
    attempt: int = 1
    runner: str | None = None
    created_at: float | None = None
    # timeline[attempt][state] = when the job last entered that state in that attempt
    timeline: dict[str, dict[str, float]] = Field(default_factory=dict)
    cancel_requested_at: float | None = None
    heartbeat_at: float | None = None

    @classmethod
    def of(cls, doc: Doc) -> JobRecord:
        return cls.model_validate(doc)

    def entered(self, state: JobState, attempt: int | None = None) -> float | None:
        """When the job entered ``state`` in ``attempt`` (default: its current one)."""
        return self.timeline.get(str(attempt or self.attempt), {}).get(str(state))

    def message(self) -> JobMessage:
        """The job message it would travel as (to re-queue it without its original message)."""
        return JobMessage(
            id=self.id, task=self.task, args=self.args, lane=self.lane, cluster=self.cluster,
            priority=self.priority, tier=self.tier, max_execution_time=self.max_execution_time,
            max_retries=self.max_retries, retry_backoff=self.retry_backoff, slots=self.slots,
            heartbeat_timeout=self.heartbeat_timeout, attempt=self.attempt,
            submitted_at=self.created_at or 0.0, labels=self.labels, idempotency_key=self.idempotency_key,
            parent_id=self.parent_id, schedule_id=self.schedule_id, last_completed_at=self.last_completed_at,
            retention_days=self.retention_days, callback_url=self.callback_url,
            concurrency_key=self.concurrency_key, fairness_key=self.fairness_key,
        )  # fmt: skip


async def read(db: Database, job_id: str, *, with_args: bool = False) -> JobRecord | None:
    """The stored job, typed; without its args unless asked (they may be large)."""
    doc = await db["jobs"].find_one({"_id": job_id}, projection=None if with_args else {"args": False})
    return None if doc is None else JobRecord.of(doc)
