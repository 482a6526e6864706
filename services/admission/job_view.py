"""How a stored job looks through the API: epoch seconds become ISO-8601 UTC strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from laneyard.shared.states import JobState
from laneyard.shared.store.database import Doc
from laneyard.shared.store.subtasks import children_of

LIFECYCLE = {str(s): i for i, s in enumerate(JobState)}


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(float(ts), UTC).isoformat().replace("+00:00", "Z")


def job_view(doc: Doc) -> dict[str, Any]:
    timeline = doc.get("timeline") or {}
    # Ordered by attempt and lifecycle, not by timestamp: the stamps come from different processes'
    # clocks, and a few milliseconds of skew must not show a job WAITING before it was queued.
    transitions = sorted(
        (
            {"attempt": int(attempt), "state": state, "at": iso(at)}
            for attempt, states in timeline.items()
            for state, at in states.items()
        ),
        key=lambda t: (t["attempt"], LIFECYCLE.get(str(t["state"]), len(LIFECYCLE))),
    )
    return {
        "id": doc["_id"],
        "task": doc.get("task"),
        "args": doc.get("args"),
        "state": doc.get("state"),
        "lane": doc.get("lane"),
        "cluster": doc.get("cluster"),
        "priority": doc.get("priority"),
        "tier": doc.get("tier"),
        "labels": doc.get("labels") or {},
        "attempt": doc.get("attempt"),
        "max_retries": doc.get("max_retries"),
        "max_execution_time": doc.get("max_execution_time"),
        "runner": doc.get("runner"),
        "result": doc.get("result"),
        "error": doc.get("error"),
        "reason": doc.get("reason"),
        "schedule_id": doc.get("schedule_id"),
        "last_completed_at": iso(doc.get("last_completed_at")),
        "parent_id": doc.get("parent_id"),
        "subtasks": children_of(doc),
        "awaiting_subtasks": bool(doc.get("awaiting_subtasks")),
        "dead_letter": doc.get("dead_letter"),
        "replay_of": doc.get("replay_of"),
        "created_at": iso(doc.get("created_at")),
        "updated_at": iso(doc.get("updated_at")),
        "transitions": transitions,
    }
