"""Schedules through the API: the body that creates one (a job template and when), and how one looks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from laneyard.shared.models import Submission
from laneyard.shared.schedule_times import MAX_EVERY_SECONDS, MIN_EVERY_SECONDS, parse_cron
from laneyard.shared.views import utc

WHEN = ("every", "cron", "start_after")


class ScheduleCreate(Submission):
    """The job's fields as for ``POST /v1/jobs``, and one of ``every``, ``cron`` or ``start_after``."""

    # Each fire gets its own key (``schedule:<id>:<fire time>``), and its own start time.
    idempotency_key: SkipJsonSchema[None] = None
    start_at: SkipJsonSchema[None] = None

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = (
        Field(None, description="a name to tell it by")
    )
    every: float | None = Field(
        None, ge=MIN_EVERY_SECONDS, le=MAX_EVERY_SECONDS, description="seconds between jobs"
    )
    cron: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="5 fields (minute hour day-of-month month day-of-week), in UTC"
    )
    start_after: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="a job id: submit one job once that job has ended"
    )
    on: Literal["completed", "any"] | None = Field(
        None, description="with start_after: fire only if that job COMPLETED (default), or on any end"
    )

    @field_validator("idempotency_key", "start_at", mode="before")
    @classmethod
    def _not_for_schedules(cls, value: object) -> None:
        if value is not None:
            raise ValueError("a schedule sets this for each job it submits; leave it out")
        return None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return None if value is None else parse_cron(value).expression

    @model_validator(mode="after")
    def _exactly_one_when(self) -> ScheduleCreate:
        given = [name for name in WHEN if getattr(self, name) is not None]
        if len(given) != 1:
            got = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of every, cron or start_after (got {got})")
        if self.on is not None and self.start_after is None:
            raise ValueError("on applies to start_after only")
        return self


class ScheduleView(BaseModel):
    id: str = Field(description="the schedule id")
    name: str | None = Field(description="the name it was given")
    kind: str | None = Field(description="every, cron or start_after")
    every: float | None = Field(description="seconds between jobs")
    cron: str | None = Field(description="5 fields, in UTC")
    start_after: str | None = Field(description="the job whose end fires it, once")
    on: str | None = Field(description="with start_after: completed (that job COMPLETED) or any end")
    job: dict[str, Any] | None = Field(description="the template of the jobs it submits")
    paused: bool = Field(description="it submits no jobs until resumed")
    finished: bool = Field(description="it will submit no more jobs (no next_run_at)")
    finished_reason: str | None = Field(description="why it will submit no more jobs")
    next_run_at: datetime | None = Field(description="when it fires next; null once finished")
    fires: int = Field(description="jobs submitted so far")
    last_fire_at: datetime | None = Field(description="when it last fired")
    last_job_id: str | None = Field(description="the job it last submitted")
    last_completed_at: datetime | None = Field(description="the latest time one of its jobs completed")
    last_error: str | None = Field(description="why the last fire submitted no job")
    created_at: datetime | None = Field(description="when it was created")

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> ScheduleView:
        return cls(
            id=doc["_id"],
            name=doc.get("name"),
            kind=doc.get("kind"),
            every=doc.get("every"),
            cron=doc.get("cron"),
            start_after=doc.get("start_after"),
            on=doc.get("on"),
            job=doc.get("job"),
            paused=bool(doc.get("paused")),
            finished=doc.get("next_run_at") is None,
            finished_reason=doc.get("finished_reason"),
            next_run_at=utc(doc.get("next_run_at")),
            fires=int(doc.get("fires") or 0),
            last_fire_at=utc(doc.get("last_fire_at")),
            last_job_id=doc.get("last_job_id"),
            last_completed_at=utc(doc.get("last_completed_at")),
            last_error=doc.get("last_error"),
            created_at=utc(doc.get("created_at")),
        )


class ScheduleList(BaseModel):
    schedules: list[ScheduleView] = Field(description="every schedule, oldest first")
