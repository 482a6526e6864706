"""An event of ``GET /v1/events``: one job state change."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from laneyard.shared.states import JobState
from laneyard.shared.store.database import Doc
from laneyard.shared.views import utc


class Event(BaseModel):
    event_id: int = Field(description="the event's number: 1, 2, 3... the same on every replica")
    id: str = Field(description="the job id")
    task: str | None = Field(description="the task the job runs")
    lane: str | None = Field(description="the job's lane")
    cluster: str | None = Field(description="the job's cluster")
    labels: dict[str, str] = Field(default_factory=dict, description="the job's labels")
    state: JobState = Field(description="the state the job entered")
    attempt: int = Field(description="the attempt, from 1, in which it entered it")
    runner: str | None = Field(None, description="the runner holding the job, once it runs")
    reason: str | None = Field(None, description="why it entered the state, for ends and retries")
    progress: float | None = Field(None, description="0-1, as its task last reported it")
    time: datetime = Field(description="when it entered the state")


def event_view(doc: Doc) -> Event:
    return Event(
        event_id=int(doc["_id"]), id=doc["job_id"], task=doc.get("task"), lane=doc.get("lane"),
        cluster=doc.get("cluster"), labels=doc.get("labels") or {}, state=JobState(doc["state"]),
        attempt=int(doc["attempt"]), runner=doc.get("runner"), reason=doc.get("reason"),
        progress=doc.get("progress"), time=utc(float(doc["at"])),
    )  # fmt: skip
