"""Every API call as data: method, path, body, and how to read the answer.

Both clients execute these the same way (``Client`` blocking, ``AsyncClient`` on asyncio), so an
endpoint is described once. Building a call does no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypedDict, TypeVar

import httpx
from pydantic import BaseModel

from laneyard.errors import JobNotFound, LaneyardError, Refused, Unauthorized, Unavailable
from laneyard.shared.models import BatchResult, SubmitResult
from laneyard.shared.states import JobState
from laneyard.shared.tiers import Tier
from laneyard.shared.views.clusters import ClusterList, ClusterView
from laneyard.shared.views.concurrency import ConcurrencyView, LimitSet
from laneyard.shared.views.dead_letters import DeadLetterDetail, DeadLetterPage, ReplayResult
from laneyard.shared.views.fairness import FairnessWeight, FairnessWeights
from laneyard.shared.views.jobs import CancelResult, JobPage, JobView, LogPage
from laneyard.shared.views.key_rates import KeyRates, KeyRateSet
from laneyard.shared.views.pauses import PauseList, PauseView
from laneyard.shared.views.schedules import BackfillResult, ScheduleList, ScheduleView, TriggerResult
from laneyard.shared.views.status import Status
from laneyard.shared.views.throttles import RateSet, Throttles
from laneyard.shared.views.webhooks import DeliveryList, WebhookList, WebhookView

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)
Params = Sequence[tuple[str, str | int | float | bool | None]]


class SubmitOptions(TypedDict, total=False):
    """What a submission may set besides its task and args; the server's defaults fill the rest."""

    lane: str
    cluster: str
    priority: int
    tier: Tier | str
    max_execution_time: float
    max_retries: int
    retry_backoff: float
    idempotency_key: str
    start_at: datetime
    labels: dict[str, str]
    retention_days: float
    callback_url: str
    concurrency_key: str


class JobSpec(SubmitOptions, total=False):
    """One job of ``submit_many``: ``task`` is required, ``args`` defaults to ``{}``."""

    task: str
    args: dict[str, Any]


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    read: Callable[[httpx.Response], T]
    params: Params = ()
    body: Any = None
    # Whether the request may be sent again after it may have reached the server: reads, and
    # submissions (which always carry an idempotency key).
    replay_safe: bool = True
    # For calls on one job: a 404 means that job does not exist.
    job_id: str | None = field(default=None)


def detail_of(response: httpx.Response) -> str:
    """The server's ``detail`` as one line: its message, or the fields a validation error names."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        return response.text.strip()[:300] or response.reason_phrase
    if isinstance(detail, list):
        parts = []
        for err in detail[:5]:
            if isinstance(err, dict):
                loc = ".".join(str(p) for p in err.get("loc", []) if p != "body")
                parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
        return "; ".join(parts) or str(detail)[:300]
    return str(detail) if detail is not None else response.reason_phrase


def error_for(response: httpx.Response, call: Call[Any]) -> LaneyardError:
    status = response.status_code
    message = detail_of(response)
    if status in (401, 403):
        return Unauthorized(message, status)
    if status == 404 and call.job_id is not None:
        return JobNotFound(call.job_id, message)
    if status < 500 and status != 429:
        return Refused(message, status)
    # 5xx, or 429 after every retry: the server cannot serve now, nothing is wrong with the call.
    return Unavailable(f"{call.method} {call.path}: {status} {message}", status, message)


def model(kind: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: kind.model_validate_json(response.content)


def nothing(_: httpx.Response) -> None:
    return None


def job_body(task: str, args: Mapping[str, Any] | None, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A job's JSON: the fields given (None leaves the server's default), times as ISO 8601."""
    body: dict[str, Any] = {"task": task, "args": dict(args or {})}
    for key, value in fields.items():
        if value is not None:
            body[key] = value.isoformat() if isinstance(value, datetime) else value
    return body


def submission(task: str, args: Mapping[str, Any] | None, options: SubmitOptions) -> dict[str, Any]:
    """The JSON body of one job. Without an idempotency key of the caller's, one is made here, so a
    submission retried after a lost answer is the same job, never a second one."""
    body = job_body(task, args, options)
    body.setdefault("idempotency_key", f"client:{uuid.uuid4().hex}")
    return body


def submit(body: dict[str, Any]) -> Call[SubmitResult]:
    return Call("POST", "/v1/jobs", model(SubmitResult), body=body)


def submit_batch(bodies: list[dict[str, Any]]) -> Call[BatchResult]:
    return Call("POST", "/v1/jobs/batch", model(BatchResult), body={"jobs": bodies})


def get_job(job_id: str) -> Call[JobView]:
    return Call("GET", f"/v1/jobs/{job_id}", model(JobView), job_id=job_id)


def list_jobs(filters: Params, cursor: str | None, limit: int) -> Call[JobPage]:
    params = [*filters, ("limit", limit)]
    if cursor is not None:
        params.append(("cursor", cursor))
    return Call("GET", "/v1/jobs", model(JobPage), params=params)


def job_filters(
    state: JobState | str | None,
    lane: str | None,
    cluster: str | None,
    label: Mapping[str, str] | Iterable[str] | None,
) -> list[tuple[str, str | int | float]]:
    params: list[tuple[str, str | int | float]] = []
    for name, value in (("state", state), ("lane", lane), ("cluster", cluster)):
        if value is not None:
            params.append((name, str(value)))
    labels = [f"{k}:{v}" for k, v in label.items()] if isinstance(label, Mapping) else list(label or [])
    params += [("label", item) for item in labels]
    return params


def cancel(job_id: str) -> Call[CancelResult]:
    return Call("POST", f"/v1/jobs/{job_id}/cancel", model(CancelResult), replay_safe=False, job_id=job_id)


def logs(job_id: str, attempt: int | None, after: int, limit: int = 1000) -> Call[LogPage]:
    params: list[tuple[str, str | int | float]] = [("after", after), ("limit", limit)]
    if attempt is not None:
        params.append(("attempt", attempt))
    return Call("GET", f"/v1/jobs/{job_id}/logs", model(LogPage), params=params, job_id=job_id)


def health() -> Call[None]:
    return Call("GET", "/healthz", nothing)


def status() -> Call[Status]:
    return Call("GET", "/v1/status", model(Status))


def create_schedule(body: dict[str, Any]) -> Call[ScheduleView]:
    return Call("POST", "/v1/schedules", model(ScheduleView), body=body, replay_safe=False)


def create_webhook(
    url: str, lane: str = "main", events: Sequence[str] | None = None, cluster: str | None = None
) -> Call[WebhookView]:
    body: dict[str, Any] = {"url": url, "lane": lane, "cluster": cluster}
    if events is not None:
        body["events"] = list(events)
    return Call("POST", "/v1/webhooks", model(WebhookView), body=body, replay_safe=False)


def list_webhooks() -> Call[WebhookList]:
    return Call("GET", "/v1/webhooks", model(WebhookList))


def get_webhook(webhook_id: str) -> Call[WebhookView]:
    return Call("GET", f"/v1/webhooks/{webhook_id}", model(WebhookView))


def delete_webhook(webhook_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/webhooks/{webhook_id}", nothing, replay_safe=False)


def job_webhooks(job_id: str) -> Call[DeliveryList]:
    return Call("GET", f"/v1/jobs/{job_id}/webhooks", model(DeliveryList), job_id=job_id)


def list_schedules() -> Call[ScheduleList]:
    return Call("GET", "/v1/schedules", model(ScheduleList))


def get_schedule(schedule_id: str) -> Call[ScheduleView]:
    return Call("GET", f"/v1/schedules/{schedule_id}", model(ScheduleView))


def delete_schedule(schedule_id: str) -> Call[None]:
    return Call("DELETE", f"/v1/schedules/{schedule_id}", nothing, replay_safe=False)


def pause_schedule(schedule_id: str, paused: bool) -> Call[ScheduleView]:
    action = "pause" if paused else "resume"
    return Call("POST", f"/v1/schedules/{schedule_id}/{action}", model(ScheduleView))


def trigger_schedule(schedule_id: str, overlap: str | None) -> Call[TriggerResult]:
    # Each trigger is a new run: never replayed on a lost answer.
    body = {"overlap": overlap} if overlap is not None else {}
    return Call(
        "POST", f"/v1/schedules/{schedule_id}/trigger", model(TriggerResult), body=body, replay_safe=False
    )


def backfill_schedule(schedule_id: str, start: datetime, end: datetime) -> Call[BackfillResult]:
    # Safe to replay: each fire time's job is de-duplicated by its key.
    body = {"from": start.isoformat(), "to": end.isoformat()}
    return Call("POST", f"/v1/schedules/{schedule_id}/backfill", model(BackfillResult), body=body)


def create_cluster(name: str) -> Call[ClusterView]:
    return Call("POST", "/v1/clusters", model(ClusterView), body={"name": name}, replay_safe=False)


def list_clusters() -> Call[ClusterList]:
    return Call("GET", "/v1/clusters", model(ClusterList))


def get_cluster(slug: str) -> Call[ClusterView]:
    return Call("GET", f"/v1/clusters/{slug}", model(ClusterView))


def delete_cluster(slug: str) -> Call[None]:
    return Call("DELETE", f"/v1/clusters/{slug}", nothing, replay_safe=False)


def throttles() -> Call[Throttles]:
    return Call("GET", "/v1/throttles", model(Throttles))


def set_throttle(kind: str, name: str, rate: float) -> Call[RateSet]:
    return Call("PUT", f"/v1/throttles/{kind}/{name}", model(RateSet), body={"rate": rate})


def clear_throttle(kind: str, name: str) -> Call[None]:
    return Call("DELETE", f"/v1/throttles/{kind}/{name}", nothing)


def fairness_weights() -> Call[FairnessWeights]:
    return Call("GET", "/v1/fairness", model(FairnessWeights))


def set_fairness_weight(lane: str, key: str, weight: float) -> Call[FairnessWeight]:
    return Call("PUT", f"/v1/fairness/{lane}/{key}", model(FairnessWeight), body={"weight": weight})


def clear_fairness_weight(lane: str, key: str) -> Call[None]:
    return Call("DELETE", f"/v1/fairness/{lane}/{key}", nothing)


def concurrency() -> Call[ConcurrencyView]:
    return Call("GET", "/v1/concurrency", model(ConcurrencyView))


def set_concurrency_limit(key: str, max_running: int) -> Call[LimitSet]:
    return Call("PUT", f"/v1/concurrency/{key}", model(LimitSet), body={"max_running": max_running})


def clear_concurrency_limit(key: str) -> Call[None]:
    return Call("DELETE", f"/v1/concurrency/{key}", nothing)


def key_rates() -> Call[KeyRates]:
    return Call("GET", "/v1/rates", model(KeyRates))


def set_key_rate(key: str, per_second: float) -> Call[KeyRateSet]:
    return Call("PUT", f"/v1/rates/{key}", model(KeyRateSet), body={"per_second": per_second})


def clear_key_rate(key: str) -> Call[None]:
    return Call("DELETE", f"/v1/rates/{key}", nothing)


def pauses() -> Call[PauseList]:
    return Call("GET", "/v1/pauses", model(PauseList))


def pause(lane: str | None, cluster: str | None, paused: bool) -> Call[PauseView]:
    """Pauses or resumes a lane (of ``cluster``, else of every cluster), or with no lane a cluster."""
    action = "pause" if paused else "resume"
    if lane is None:
        if cluster is None:
            raise ValueError("give a lane, a cluster or both")
        return Call("POST", f"/v1/clusters/{cluster}/{action}", model(PauseView))
    params = [("cluster", cluster)] if cluster is not None else []
    return Call("POST", f"/v1/lanes/{lane}/{action}", model(PauseView), params=params)


def dead_letters(source: str | None, cursor: str | None, limit: int) -> Call[DeadLetterPage]:
    params: list[tuple[str, str | int | float]] = [("limit", limit)]
    if source is not None:
        params.append(("source", source))
    if cursor is not None:
        params.append(("cursor", cursor))
    return Call("GET", "/v1/dead-letters", model(DeadLetterPage), params=params)


def get_dead_letter(dead_id: str) -> Call[DeadLetterDetail]:
    return Call("GET", f"/v1/dead-letters/{dead_id}", model(DeadLetterDetail))


def replay_dead_letter(dead_id: str) -> Call[ReplayResult]:
    # A replay is recorded on the dead letter: sent twice, the second returns the same job.
    return Call("POST", f"/v1/dead-letters/{dead_id}/replay", model(ReplayResult))


def schedule_body(
    task: str,
    args: Mapping[str, Any] | None,
    options: SubmitOptions,
    **when: Any,
) -> dict[str, Any]:
    return job_body(task, args, {**options, **when})


def throttle_target(lane: str | None, cluster: str | None) -> tuple[str, str]:
    if (lane is None) == (cluster is None):
        raise ValueError("give exactly one of lane or cluster")
    return ("lanes", lane) if lane is not None else ("clusters", str(cluster))
