"""How long jobs stay in each state, observed by the service that ends the state.

IN_QUEUE is observed by the dispatcher when it forwards a job, WAITING by the runner when it starts
one (the dispatcher stamps the forward time on the message), RUNNING by the runner when the task
returns. Wall-clock times from two hosts are compared for WAITING, so keep clocks in sync (NTP).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from prometheus_client import Histogram

# Integer milliseconds: AMQP field tables carry a Python float as a 32-bit float (minutes off).
FORWARDED_HEADER = "x-laneyard-forwarded-ms"

STATE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600)

JOB_STATE_SECONDS = Histogram(
    "laneyard_job_state_seconds",
    "Time a job spent in a state (one observation each time it leaves IN_QUEUE, WAITING or RUNNING)",
    ("state", "cluster"),
    buckets=STATE_BUCKETS,
)


def forwarded_headers(now: float | None = None) -> dict[str, Any]:
    return {FORWARDED_HEADER: int((time.time() if now is None else now) * 1000)}


def observe_waiting(cluster: str, headers: Mapping[str, Any] | None, now: float | None = None) -> None:
    """The WAITING time of a job a runner is starting, from the forward time on its message."""
    sent = (headers or {}).get(FORWARDED_HEADER)
    if isinstance(sent, int):
        waited = (time.time() if now is None else now) - sent / 1000
        JOB_STATE_SECONDS.labels("WAITING", cluster).observe(max(0.0, waited))
