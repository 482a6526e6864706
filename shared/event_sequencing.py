"""Which staged state changes (``shared.store.event_intents``) become events, and what each says.

An intent is written before its state change. The change happened if the job's timeline shows it
entered that state in that attempt at the intent's time or later (later: it left and came back,
which it could only do after this change). A writer whose change did not happen withdraws its
intent; one that died before it could is covered here: its intent stays undecided until
``settle_seconds`` have passed (longer than any write may take), then it is dropped.
"""

from __future__ import annotations

from collections.abc import Container, Mapping
from dataclasses import dataclass, field

from laneyard.shared.states import JobState
from laneyard.shared.store.database import Doc

# The embedded server keeps 15 significant digits of a float (10 us of an epoch time); MongoDB all.
TIME_MARGIN = 1e-4
# States in which the job's current runner and progress belong to the attempt that is in it.
HELD = frozenset(
    str(s)
    for s in (
        JobState.RUNNING,
        JobState.AWAITING_SUBTASKS,
        JobState.COMPLETED,
        JobState.ERROR,
        JobState.CANCELLED,
    )
)
# The fields of the job document an event is made from.
JOB_FIELDS = {
    "task": True, "lane": True, "cluster": True, "labels": True, "attempt": True,
    "runner": True, "progress": True, "timeline": True,
}  # fmt: skip


@dataclass
class Decision:
    events: list[Doc] = field(default_factory=list)  # unnumbered, in the order to append them
    settled: list[str] = field(default_factory=list)  # intents to withdraw: made events or dropped
    dropped: int = 0


def natural_key(job_id: str, attempt: int, state: str, at: float) -> str:
    """One state change, however many intents name it."""
    return f"{job_id}|{attempt}|{state}|{at:.6f}"


def happened(intent: Doc, job: Doc | None) -> bool:
    """Whether the intent's change is in the job's timeline (if not, it may still be on its way)."""
    if job is None:
        return False
    entered = ((job.get("timeline") or {}).get(str(intent["attempt"])) or {}).get(intent["state"])
    return entered is not None and float(entered) >= float(intent["at"]) - TIME_MARGIN


def event_of(intent: Doc, job: Doc) -> Doc:
    same_attempt = int(job.get("attempt") or 0) == int(intent["attempt"]) and intent["state"] in HELD
    return {
        "job_id": intent["job_id"],
        "task": job.get("task"),
        "lane": job.get("lane"),
        "cluster": job.get("cluster"),
        "labels": job.get("labels") or {},
        "state": intent["state"],
        "attempt": int(intent["attempt"]),
        "runner": intent.get("runner") or (job.get("runner") if same_attempt else None),
        "reason": intent.get("reason"),
        "progress": job.get("progress") if same_attempt else None,
        "at": float(intent["at"]),
        "key": natural_key(intent["job_id"], int(intent["attempt"]), intent["state"], float(intent["at"])),
    }


def decide(
    intents: list[Doc],
    jobs: Mapping[str, Doc],
    *,
    now: float,
    settle_seconds: float,
    seen: Container[str] = frozenset(),
) -> Decision:
    """Sorts intents into events to append (oldest change first), intents to drop, and the rest
    (left for the next round). ``seen`` holds the natural keys of events already in the log."""
    decision = Decision()
    keys: set[str] = set()
    ready: list[Doc] = []
    for intent in intents:
        job = jobs.get(intent["job_id"])
        if job is not None and happened(intent, job):
            event = event_of(intent, job)
            if event["key"] not in seen and event["key"] not in keys:
                keys.add(event["key"])
                ready.append(event)
            decision.settled.append(intent["_id"])
        elif now - float(intent["at"]) > settle_seconds:
            decision.settled.append(intent["_id"])
            decision.dropped += 1
    decision.events = sorted(ready, key=lambda e: (e["at"], e["key"]))
    return decision
