"""What is delivered for an ended job, and to whom: pure functions of the job and subscriptions.

Every (job, target) pair has one delivery whose id is derived from both, so whoever creates the
deliveries of a job, and however often (the ending process, then the crash sweep), creates the
same ones; the id travels as ``Laneyard-Delivery`` for receivers to de-duplicate on.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store.database import Doc
from laneyard.shared.views import utc

EVENTS = tuple(sorted(str(s) for s in TERMINAL))


@dataclass(frozen=True)
class Target:
    url: str
    source: str  # "callback_url", or "subscription:<id>"


def delivery_id(job_id: str, target: Target) -> str:
    digest = hashlib.sha256(f"{job_id}\n{target.source}\n{target.url}".encode()).hexdigest()[:20]
    return f"whd_{digest}"


def subscription_matches(sub: Doc, lane: str, cluster: str, state: str) -> bool:
    return (
        sub.get("lane") == lane
        and sub.get("cluster") in (None, cluster)
        and state in (sub.get("events") or EVENTS)
    )


def targets_for(job: Doc, subscriptions: list[Doc]) -> list[Target]:
    """The job's own callback URL, then each subscription of its lane that wants its end state."""
    found: list[Target] = []
    if job.get("callback_url"):
        found.append(Target(str(job["callback_url"]), "callback_url"))
    lane, cluster, state = str(job.get("lane")), str(job.get("cluster")), str(job.get("state"))
    for sub in subscriptions:
        if subscription_matches(sub, lane, cluster, state):
            found.append(Target(str(sub["url"]), f"subscription:{sub['_id']}"))
    return found


def _iso(ts: Any) -> str | None:
    when = utc(ts) if isinstance(ts, int | float) else None
    return None if when is None else when.isoformat().replace("+00:00", "Z")


def body(job: Doc, delivery: str) -> bytes:
    """The JSON POSTed: the job's outcome and its timings (UTC, ISO 8601), compact and key-sorted so
    that every attempt of a delivery sends the same bytes."""
    attempt = int(job.get("attempt") or 1)
    state = str(job.get("state"))
    timeline = (job.get("timeline") or {}).get(str(attempt)) or {}
    outcome: dict[str, Any] = {
        "delivery_id": delivery,
        "event": "job.ended",
        "id": job["_id"],
        "task": job.get("task"),
        "lane": job.get("lane"),
        "cluster": job.get("cluster"),
        "state": state,
        "attempt": attempt,
        "reason": job.get("reason"),
        "labels": job.get("labels") or {},
        "timings": {
            "submitted_at": _iso(job.get("created_at")),
            "started_at": _iso(timeline.get(str(JobState.RUNNING))),
            "ended_at": _iso(timeline.get(state)),
        },
    }
    if state == str(JobState.COMPLETED):
        outcome["result"] = job.get("result")
    else:
        outcome["error"] = job.get("error")
    return json.dumps(outcome, separators=(",", ":"), sort_keys=True, default=str).encode()
