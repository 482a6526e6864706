"""Pydantic models for what crosses a boundary: a submission, the job message, the capacity report."""

from __future__ import annotations

import math
import re
import time
from datetime import datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from laneyard.shared.states import JobState
from laneyard.shared.tiers import Tier

# Lane names and cluster slugs become parts of queue names and routing keys, so they are kept to a
# character set that is safe there (no dots: the routing key is "<lane>.<cluster>").
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
TaskName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.:-]{0,199}$")]
LabelKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,63}$")]
# A fairness key is a path segment of /v1/fairness/{lane}/{key}: no slash, nothing to escape.
FairnessKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")]
MAX_ARGS_DEPTH = 32


def storable(value: Any, depth: int = 0) -> Any:
    """Refuses what JSON allows but a job document cannot hold: a key with a NUL byte (BSON keys are
    C strings), a lone surrogate (not UTF-8), nesting deeper than MongoDB's limit leaves room for, an
    integer beyond 64 bits (BSON's widest); and NaN or infinity, which Python's JSON reads but JSON
    cannot carry on to the task or back to a client."""
    if depth > MAX_ARGS_DEPTH:
        raise ValueError(f"nested deeper than {MAX_ARGS_DEPTH} levels")
    if isinstance(value, bool):
        pass
    elif isinstance(value, int):
        if not -(2**63) <= value < 2**63:
            raise ValueError(f"an integer of {len(str(abs(value)))} digits does not fit in 64 bits")
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value} is not a number JSON can carry")
    elif isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError as exc:
            raise ValueError(f"{value[:20]!r} is not valid Unicode (a lone surrogate)") from exc
    elif isinstance(value, dict):
        for key, item in value.items():
            if "\x00" in key:
                raise ValueError(f"key {key!r} contains a NUL character")
            storable(key, depth + 1)
            storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            storable(item, depth + 1)
    return value


_DATE_AND_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def date_and_time(value: Any) -> Any:
    """Only an ISO 8601 date and time, as documented. Pydantic would also read a number, or a string
    of digits, as seconds or milliseconds since 1970 depending on its size, and a bare date as
    midnight: guesses a client would not see made."""
    if isinstance(value, str) and not _DATE_AND_TIME.match(value):
        raise ValueError("expected an ISO 8601 date and time, such as 2030-01-01T00:00:00Z")
    if isinstance(value, int | float):
        raise ValueError("expected an ISO 8601 date and time such as 2030-01-01T00:00:00Z, not a number")
    return value


def json_number(value: Any) -> Any:
    """JSON numbers only. Pydantic would also take ``true``/``false`` as 1/0 (``{"rate": false}``
    would hold a lane's every job back) and ``"5"`` as 5."""
    if isinstance(value, bool | str):
        raise ValueError(f"expected a number, not {type(value).__name__}")
    return value


LabelValue = Annotated[str, StringConstraints(max_length=256), AfterValidator(storable)]
Args = Annotated[dict[str, Any], AfterValidator(storable)]


class Submission(BaseModel):
    """What a client sends to ``POST /v1/jobs`` or publishes to the ``<prefix>.submit`` exchange."""

    model_config = ConfigDict(extra="forbid")

    task: TaskName
    # The schemas say what ``storable`` and the key pattern refuse, as far as JSON Schema can.
    args: Args = Field(default_factory=dict, json_schema_extra={"propertyNames": {"pattern": "^[^\\x00]*$"}})
    lane: Slug = "main"
    cluster: Slug = "default"
    priority: int = Field(5, ge=0, le=9, description="0-9; 9 runs first")
    tier: Tier = Tier.LARGE
    max_execution_time: float = Field(3600.0, gt=0, le=7 * 24 * 3600, description="seconds")
    max_retries: int = Field(0, ge=0, le=100)
    retry_backoff: float = Field(1.0, ge=0, le=3600, description="first retry delay in seconds")
    slots: int = Field(
        1,
        ge=1,
        le=1024,
        description="share of a runner the job needs besides its tier (runners offer --slots)",
    )
    heartbeat_timeout: float | None = Field(
        None,
        gt=0,
        le=7 * 24 * 3600,
        description="seconds: a running job that sends no heartbeat for this long is stopped as stuck",
    )
    idempotency_key: (
        Annotated[str, StringConstraints(min_length=1, max_length=200), AfterValidator(storable)] | None
    ) = None
    start_at: Annotated[datetime, BeforeValidator(date_and_time)] | None = None
    labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict, max_length=32, json_schema_extra={"additionalProperties": False}
    )
    retention_days: float | None = Field(
        None,
        gt=0,
        le=36_500,
        description="days the job and its logs are kept once it ends (default: its lane's, else 30)",
    )
    callback_url: str | None = Field(
        None,
        max_length=2048,
        description="an http(s) URL the job's outcome is POSTed to, signed, once it ends (docs/webhooks.md)",
    )
    fairness_key: FairnessKey | None = Field(
        None,
        description="jobs of one lane, cluster and priority start round-robin across these keys "
        "(docs/fairness.md); none: the lane's default key",
    )
    concurrency_key: FairnessKey | None = Field(
        None,
        description="at most the key's max_running jobs with this key run at once, cluster-wide "
        "(PUT /v1/concurrency/{key}; docs/fairness.md); none or no limit: no such bound",
    )

    _numbers = field_validator(
        "priority",
        "max_execution_time",
        "max_retries",
        "retry_backoff",
        "slots",
        "heartbeat_timeout",
        "retention_days",
        mode="before",
    )(json_number)


class JobMessage(BaseModel):
    """The job as it travels between services; carries everything needed to run it."""

    id: str
    task: str
    args: dict[str, Any]
    lane: str
    cluster: str
    priority: int
    tier: Tier
    max_execution_time: float
    max_retries: int = 0
    retry_backoff: float = 1.0
    slots: int = 1
    heartbeat_timeout: float | None = None
    attempt: int = 1
    submitted_at: float = Field(default_factory=time.time)
    not_before: float | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    idempotency_key: str | None = None
    parent_id: str | None = None  # set for a sub-task: the job that spawned it
    # Set for a job a schedule created: the completion time (epoch) of that schedule's previous
    # successful run, null on its first, so a task can pick up where the previous run left off.
    schedule_id: str | None = None
    last_completed_at: float | None = None
    # Days it is kept once it ends, fixed at admission (shared.retention); None from older senders.
    retention_days: float | None = None
    callback_url: str | None = None  # where its end is POSTed (shared.webhooks)
    fairness_key: str | None = None  # its turn in the lane's round robin (shared.fair_shards)
    concurrency_key: str | None = None  # a slot of this key is held while it waits or runs

    @classmethod
    def from_submission(cls, sub: Submission, job_id: str) -> JobMessage:
        return cls(
            id=job_id,
            task=sub.task,
            args=sub.args,
            lane=sub.lane,
            cluster=sub.cluster,
            priority=sub.priority,
            tier=sub.tier,
            max_execution_time=sub.max_execution_time,
            max_retries=sub.max_retries,
            retry_backoff=sub.retry_backoff,
            slots=sub.slots,
            heartbeat_timeout=sub.heartbeat_timeout,
            not_before=sub.start_at.timestamp() if sub.start_at else None,
            labels=sub.labels,
            idempotency_key=sub.idempotency_key,
            retention_days=sub.retention_days,
            callback_url=sub.callback_url,
            fairness_key=sub.fairness_key,
            concurrency_key=sub.concurrency_key,
        )


class CapacityReport(BaseModel):
    """What a runner tells the dispatchers every heartbeat and whenever its load changes."""

    runner_id: str
    cluster: str
    host: str
    pid: int
    cpu_millicores: int
    memory_mib: int
    slots: int
    reserved_cpu_millicores: int = 0
    reserved_memory_mib: int = 0
    running: dict[str, Tier] = Field(default_factory=dict)
    # Slots its running jobs take (jobs may take more than one); None from runners that predate it.
    slots_used: int | None = None
    lanes: dict[str, str] = Field(default_factory=dict)  # job id -> lane, for lane shares
    # Jobs this runner received since its previous report (started or sent back): the dispatcher
    # stops counting them as in flight, since they are now in `running` or back in a lane.
    seen: list[str] = Field(default_factory=list)
    tasks: list[str] = Field(default_factory=list)
    draining: bool = False
    sent_at: float = Field(default_factory=time.time)


class SubmitResult(BaseModel):
    id: str
    state: JobState
    duplicate: bool = False


MAX_BATCH = 500


class SubmissionBatch(BaseModel):
    """What a client sends to ``POST /v1/jobs/batch``: many jobs for one request's overhead."""

    model_config = ConfigDict(extra="forbid")

    jobs: list[Submission] = Field(min_length=1, max_length=MAX_BATCH)


class BatchItem(BaseModel):
    """One job of a batch, in the order sent: its id and state, or why it was refused."""

    status: int = Field(description="202 admitted, 200 a duplicate of an earlier job, else why refused")
    id: str | None = None
    state: JobState | None = None
    duplicate: bool = False
    detail: str | None = None


class BatchResult(BaseModel):
    admitted: int
    refused: int
    jobs: list[BatchItem]
