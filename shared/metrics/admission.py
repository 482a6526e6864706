"""What admission did with each submission, per lane and cluster."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Concatenate, ParamSpec, TypeVar

from prometheus_client import Counter

from laneyard.shared.models import Submission

LANE_CLUSTER = ("lane", "cluster")

JOBS_ADMITTED = Counter(
    "laneyard_jobs_admitted_total",
    "Jobs accepted: sent to their lane queue, or to its intake queue when rate-limited",
    LANE_CLUSTER,
)
JOBS_THROTTLED = Counter(
    "laneyard_jobs_throttled_total",
    "Admitted jobs that went to an intake queue because their lane or cluster has a rate limit",
    LANE_CLUSTER,
)
JOBS_RELEASED = Counter(
    "laneyard_jobs_released_total",
    "Throttled jobs moved from their intake queue to their lane queue",
    LANE_CLUSTER,
)
JOBS_REJECTED = Counter(
    "laneyard_jobs_rejected_total",
    "Submissions refused; code is the HTTP status (lane and cluster are empty for an unreadable body)",
    (*LANE_CLUSTER, "code"),
)
AUTH_FAILURES = Counter(
    "laneyard_auth_failures_total",
    "Refused authentications: missing or invalid key, missing scope, or the address rate-limited",
    ("reason",),
)
JOBS_DEDUPLICATED = Counter(
    "laneyard_jobs_deduplicated_total",
    "Submissions whose idempotency key already named a job (answered with that job, nothing queued)",
    LANE_CLUSTER,
)

S = TypeVar("S")
P = ParamSpec("P")
R = TypeVar("R")
Admit = Callable[Concatenate[S, Submission, P], Awaitable[R]]


def rejected_unreadable() -> None:
    """A submission refused before its lane and cluster could be read (bad JSON, bad fields)."""
    JOBS_REJECTED.labels("", "", "422").inc()


def counts_rejections(kind: type[Exception]) -> Callable[[Admit[S, P, R]], Admit[S, P, R]]:
    """Decorates ``admit(self, submission, ...)``: every ``kind`` it raises (an exception carrying an
    HTTP ``status``) is counted against the submission's lane and cluster, then re-raised."""

    def wrap(admit: Admit[S, P, R]) -> Admit[S, P, R]:
        @functools.wraps(admit)
        async def counted(self: S, sub: Submission, /, *args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await admit(self, sub, *args, **kwargs)
            except kind as exc:
                JOBS_REJECTED.labels(sub.lane, sub.cluster, str(getattr(exc, "http_status", ""))).inc()
                raise

        return counted

    return wrap
