"""Schedules through the API: the body that creates one (a job template and when), and how one looks."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from laneyard.shared.models import Submission, date_and_time, json_number
from laneyard.shared.schedule_overlap import Overlap
from laneyard.shared.schedule_times import (
    MAX_CATCH_UP_LIMIT,
    MAX_EVERY_SECONDS,
    MAX_JITTER_SECONDS,
    MIN_EVERY_SECONDS,
    parse_cron,
    parse_zone,
)
from laneyard.shared.views import utc
from laneyard.shared.views.names import Name

WHEN = ("every", "cron", "start_after")
# Fields of a recurring schedule (every, cron) that mean nothing to a start_after one.
RECURRING = ("overlap", "catch_up", "catch_up_limit", "start_at", "end_at", "jitter")
# Labels a schedule adds to each job it submits (its fire time and why it ran).
RUN_LABEL_PREFIX = "laneyard."
MAX_TEMPLATE_LABELS = 30
Instant = Annotated[datetime, BeforeValidator(date_and_time)]


def aware(value: datetime | None) -> datetime | None:
    """A time without a zone is read as UTC, as every time in the API is."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


class ScheduleCreate(Submission):
    """The job's fields as for ``POST /v1/jobs``, and one of ``every``, ``cron`` or ``start_after``."""

    # Each fire gets its own key (``schedule:<id>:<fire time>``).
    idempotency_key: SkipJsonSchema[None] = None
    start_at: Instant | None = Field(
        None, description="no fire before this time (ISO 8601); an every schedule's first fire is at it"
    )
    end_at: Instant | None = Field(None, description="no fire after this time (ISO 8601)")

    name: Name | None = Field(None, description="a name to tell it by")
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
    timezone: Annotated[str, StringConstraints(max_length=100)] | None = Field(
        None, description="with cron: the IANA time zone it is read in (default UTC), DST included"
    )
    overlap: Overlap | None = Field(
        None,
        description="while the previous run is unfinished: skip (default), buffer_one, cancel_other, allow",
    )
    catch_up: Literal["one", "all"] | None = Field(
        None, description="after downtime: one fire for the missed period (default), or all of them"
    )
    catch_up_limit: int | None = Field(
        None, ge=1, le=MAX_CATCH_UP_LIMIT, description="with catch_up all: at most this many (default 100)"
    )
    jitter: float | None = Field(
        None,
        ge=0,
        le=MAX_JITTER_SECONDS,
        description="seconds: each fire comes a fixed time in [0, jitter) late, different per schedule",
    )

    _timing_numbers = field_validator("catch_up_limit", "jitter", mode="before")(json_number)

    _number = field_validator("every", mode="before")(json_number)

    @field_validator("idempotency_key", mode="before")
    @classmethod
    def _not_for_schedules(cls, value: object) -> None:
        if value is not None:
            raise ValueError("a schedule sets this for each job it submits; leave it out")
        return None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return None if value is None else parse_cron(value).expression

    @field_validator("timezone")
    @classmethod
    def _valid_zone(cls, value: str | None) -> str | None:
        return None if value is None else parse_zone(value)

    @field_validator("start_at", "end_at")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        return aware(value)

    @field_validator("labels")
    @classmethod
    def _room_for_run_labels(cls, value: dict[str, str]) -> dict[str, str]:
        if len(value) > MAX_TEMPLATE_LABELS:
            raise ValueError(f"at most {MAX_TEMPLATE_LABELS} labels: a schedule adds two to each job")
        taken = sorted(k for k in value if k.startswith(RUN_LABEL_PREFIX))
        if taken:
            raise ValueError(f"labels starting {RUN_LABEL_PREFIX!r} are the schedule's own: {taken[0]!r}")
        return value

    @model_validator(mode="after")
    def _exactly_one_when(self) -> ScheduleCreate:
        given = [name for name in WHEN if getattr(self, name) is not None]
        if len(given) != 1:
            got = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of every, cron or start_after (got {got})")
        if self.on is not None and self.start_after is None:
            raise ValueError("on applies to start_after only")
        if self.timezone is not None and self.cron is None:
            raise ValueError("timezone applies to cron only")
        if self.start_after is not None:
            given = [name for name in RECURRING if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} apply to every and cron schedules only")
        if self.catch_up_limit is not None and self.catch_up != "all":
            raise ValueError('catch_up_limit applies to catch_up "all" only')
        if self.start_at is not None and self.end_at is not None and self.end_at <= self.start_at:
            raise ValueError("end_at must be after start_at")
        return self


class RunView(BaseModel):
    job_id: str = Field(description="the job it submitted")
    fire_at: datetime | None = Field(description="the fire time it ran for (a trigger's: when asked)")
    kind: str = Field(description="scheduled, manual (a trigger) or backfill")
    submitted_at: datetime | None = Field(description="when it was submitted")
    state: str | None = Field(description="the job's state now; null once the job is no longer stored")
    reason: str | None = Field(description="why it ended so, if it did not complete")


class SkipView(BaseModel):
    fire_at: datetime | None = Field(description="the fire time that started no job")
    kind: str = Field(description="scheduled, or manual (a trigger)")
    reason: str = Field(description="why")
    skipped_at: datetime | None = Field(description="when")


class TriggerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    overlap: Overlap | None = Field(
        None, description="this run's overlap policy instead of the schedule's; allow starts it regardless"
    )


class TriggerResult(BaseModel):
    schedule_id: str = Field(description="the schedule")
    started: bool = Field(description="a job was submitted (false: it waits, buffered)")
    buffered: bool = Field(description="kept by buffer_one, to start when the previous run ends")
    job_id: str | None = Field(description="the job it submitted")
    cancelled: list[str] = Field(description="unfinished runs cancel_other cancelled (or asked to stop)")


class BackfillRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: Instant = Field(alias="from", description="the first fire time to run, inclusive (ISO 8601)")
    to: Instant = Field(description="the last fire time to run, inclusive (ISO 8601)")

    @field_validator("from_", "to")
    @classmethod
    def _aware(cls, value: datetime) -> datetime | None:
        return aware(value)

    @model_validator(mode="after")
    def _ordered(self) -> BackfillRequest:
        if self.to < self.from_:
            raise ValueError("to must not be before from")
        return self


class BackfillResult(BaseModel):
    schedule_id: str = Field(description="the schedule")
    fire_times: list[datetime] = Field(description="the fire times in the range, oldest first")
    job_ids: list[str] = Field(description="a job per fire time, in the same order")
    duplicates: int = Field(description="fire times that already had their job (it is returned)")


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
    timezone: str | None = Field(description="with cron: the time zone it is read in")
    overlap: str | None = Field(description="skip, buffer_one, cancel_other or allow")
    catch_up: str | None = Field(description="one or all")
    catch_up_limit: int | None = Field(description="with catch_up all: at most this many missed fires")
    start_at: datetime | None = Field(description="no fire before this time")
    end_at: datetime | None = Field(description="no fire after this time")
    jitter: float | None = Field(description="seconds; each fire comes jitter_offset seconds late")
    jitter_offset: float | None = Field(description="this schedule's share of jitter")
    buffered_fire_at: datetime | None = Field(description="the fire buffer_one keeps for when the run ends")
    next_fires: list[datetime] = Field(description="its next fire times (at most 5; with jitter)")
    runs: list[RunView] = Field(description="its latest runs, oldest first, with their outcomes")
    skipped: list[SkipView] = Field(description="its latest skipped fires, oldest first")
    skips: int = Field(description="fires skipped so far")

    @classmethod
    def from_doc(
        cls,
        doc: Mapping[str, Any],
        *,
        next_fires: list[float] | None = None,
        outcomes: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> ScheduleView:
        """``outcomes``: the stored jobs of its runs, by id (without them a run's state is null)."""
        found = outcomes or {}
        runs = [
            RunView(
                job_id=run["job_id"],
                fire_at=utc(run.get("fire_at")),
                kind=str(run.get("kind") or "scheduled"),
                submitted_at=utc(run.get("submitted_at")),
                state=found.get(run["job_id"], {}).get("state"),
                reason=found.get(run["job_id"], {}).get("reason"),
            )
            for run in doc.get("runs") or []
        ]
        skipped = [
            SkipView(
                fire_at=utc(skip.get("fire_at")),
                kind=str(skip.get("kind") or "scheduled"),
                reason=str(skip.get("reason") or ""),
                skipped_at=utc(skip.get("skipped_at")),
            )
            for skip in doc.get("skipped") or []
        ]
        buffer = doc.get("buffer") or {}
        recurring = doc.get("kind") != "start_after"
        return cls(
            timezone=doc.get("timezone"),
            # A schedule stored before overlap policies existed runs as allow, catching up once.
            overlap=doc.get("overlap") or ("allow" if recurring else None),
            catch_up=doc.get("catch_up") or ("one" if recurring else None),
            catch_up_limit=doc.get("catch_up_limit"),
            start_at=utc(doc.get("start_at")),
            end_at=utc(doc.get("end_at")),
            jitter=doc.get("jitter"),
            jitter_offset=doc.get("jitter_offset"),
            buffered_fire_at=utc(buffer.get("at")) if doc.get("buffered") else None,
            next_fires=[d for d in (utc(at) for at in next_fires or []) if d is not None],
            runs=runs,
            skipped=skipped,
            skips=int(doc.get("skips") or 0),
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
