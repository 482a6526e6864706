"""Named state changes that take more than one write: re-queueing, and recovering jobs whose runner
is gone or that ran past their limits.

Every change of state is a single conditional update (``shared.store.jobs.transition``): it names
the state it leaves and, where it matters, the runner and attempt it expects, so a change that two
processes race to make happens once. What cannot be one update is a change that also needs a
message: re-queueing writes IN_QUEUE and publishes the job. That goes through the outbox
(``shared.store.outbox``): intent, state change, publish, drop, and a sweeper for intents left by
a crash, so a job is never IN_QUEUE without a message for longer than a sweep.

The decisions (what a lost job becomes, when a job has overstayed) are pure functions below.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState
from laneyard.shared.store import jobs, outbox
from laneyard.shared.store.database import Database, Doc

log = logging.getLogger(__name__)

# A RUNNING job this long past its max_execution_time whose runner has not stopped it is ended.
FAILOVER_GRACE_SECONDS = 60.0


class Reason(StrEnum):
    """Why a job ended or went back to its queue, when Laneyard decided it rather than the task."""

    CANCELLED_ON_REQUEST = "cancelled on request"
    RUNNER_LOST = "runner lost"
    TIMEOUT_REAPED = "timeout (reaped)"
    HEARTBEAT_TIMEOUT = "heartbeat timeout"
    DEAD_LETTERED = "dead-lettered"


class Fate(StrEnum):
    """What becomes of a RUNNING job whose runner is gone."""

    REQUEUE = "requeue"  # as its next attempt
    FAIL = "fail"  # ERROR, runner lost: no retries left
    CANCEL = "cancel"  # a cancel was asked for: it is what the caller wanted anyway


def fate_of_lost(attempt: int, max_retries: int, cancel_requested: bool) -> Fate:
    if cancel_requested:
        return Fate.CANCEL
    return Fate.FAIL if attempt > max_retries else Fate.REQUEUE


@dataclass(frozen=True)
class Overstay:
    reason: Reason
    error: str


def overstay(doc: Doc, now: float, grace: float = FAILOVER_GRACE_SECONDS) -> Overstay | None:
    """Whether a RUNNING job has run past its time limit plus ``grace``, or gone silent past its
    ``heartbeat_timeout`` with no heartbeat (its start counts as the first one)."""
    attempt = str(doc.get("attempt") or 1)
    started = float((doc.get("timeline") or {}).get(attempt, {}).get(JobState.RUNNING, now))
    limit = float(doc.get("max_execution_time") or 0)
    if limit and now > started + limit + grace:
        return Overstay(
            Reason.TIMEOUT_REAPED,
            f"still RUNNING {now - started:.0f}s after it started, past max_execution_time ({limit:g}s) "
            f"and the {grace:g}s grace: its runner did not stop it",
        )
    silent_limit = doc.get("heartbeat_timeout")
    if silent_limit:
        last = max(started, float(doc.get("heartbeat_at") or 0))
        # The runner enforces this itself; the reaper is the backstop, a heartbeat later.
        if now > last + float(silent_limit) + grace / 4:
            return Overstay(Reason.HEARTBEAT_TIMEOUT, f"no heartbeat for {now - last:.0f}s")
    return None


async def publish(bus: Bus, job: JobMessage, delay_ms: float) -> None:
    if delay_ms > 0:
        await bus.delayed(job, delay_ms)
    else:
        await bus.to_lane(job)


async def requeue(
    db: Database,
    bus: Bus,
    job: JobMessage,
    *,
    attempt: int,
    next_attempt: int,
    holder: str | None,
    delay_ms: float = 0.0,
    fields: dict[str, Any] | None = None,
) -> bool:
    """RUNNING (``attempt``, held by ``holder``) -> IN_QUEUE as ``next_attempt``, and its message;
    False if the job was no longer in that state."""
    queued = job.model_copy(update={"attempt": next_attempt})
    key = await outbox.write(
        db, queued, delay_ms=delay_ms, expect={"state": str(JobState.IN_QUEUE), "attempt": next_attempt}
    )
    where: dict[str, Any] = {"attempt": attempt}
    if holder is not None:
        where["runner"] = holder
    moved = await jobs.transition(
        db, job.id, sources={JobState.RUNNING}, target=JobState.IN_QUEUE, attempt=next_attempt,
        where=where, fields={"runner": None, **(fields or {})},
    )  # fmt: skip
    if moved is None:
        await outbox.drop(db, key)
        return False
    await publish(bus, queued, delay_ms)
    await outbox.drop(db, key)
    return True


async def sweep_outbox(db: Database, bus: Bus, *, republish_after: float, give_up_after: float) -> int:
    """Settles intents left behind: publishes those whose state change happened; drops the others
    once their writer cannot still be at work. Returns how many messages it published."""
    published = 0
    for intent in await outbox.older_than(db, republish_after):
        doc = await db["jobs"].find_one(
            {"_id": intent["job_id"]}, projection={"state": True, "attempt": True}
        )
        expect = intent.get("expect") or {}
        if doc is not None and all(doc.get(k) == v for k, v in expect.items()):
            job = JobMessage.model_validate_json(intent["body"])
            await publish(bus, job, float(intent.get("delay_ms") or 0))
            published += 1
            log.warning("republished a message its writer did not confirm", extra={"job_id": job.id})
        elif time.time() - float(intent["at"]) < give_up_after:
            continue
        await outbox.drop(db, str(intent["_id"]))
    return published


async def recover_lost(db: Database, bus: Bus, doc: Doc, holder: str) -> Fate | None:
    """Ends or re-queues a RUNNING job whose runner ``holder`` is gone; None if it moved meanwhile."""
    attempt = int(doc.get("attempt") or 1)
    where = {"runner": holder, "attempt": attempt}
    fate = fate_of_lost(attempt, int(doc.get("max_retries") or 0), doc.get("cancel_requested_at") is not None)
    if fate is Fate.CANCEL:
        reason = Reason.CANCELLED_ON_REQUEST
        done = await jobs.transition(
            db, doc["_id"], sources={JobState.RUNNING}, target=JobState.CANCELLED, attempt=attempt,
            where=where, fields={"reason": str(reason), "error": f"{reason}; its runner {holder} was lost"},
        )  # fmt: skip
        return fate if done is not None else None
    if fate is Fate.FAIL:
        done = await jobs.transition(
            db, doc["_id"], sources={JobState.RUNNING}, target=JobState.ERROR, attempt=attempt,
            where=where,
            fields={"reason": str(Reason.RUNNER_LOST), "error": f"runner {holder} was lost mid-task"},
        )  # fmt: skip
        return fate if done is not None else None
    moved = await requeue(
        db, bus, jobs.message_of(doc), attempt=attempt, next_attempt=attempt + 1, holder=holder,
        fields={"lost_runner": holder, "reason": str(Reason.RUNNER_LOST),
                f"timeline.{attempt}.{JobState.ERROR}": time.time()},
    )  # fmt: skip
    return fate if moved else None


async def expire(db: Database, doc: Doc, why: Overstay) -> bool:
    """RUNNING -> ERROR for a job that overstayed (``overstay``), whichever runner holds it."""
    attempt = int(doc.get("attempt") or 1)
    done = await jobs.transition(
        db, doc["_id"], sources={JobState.RUNNING}, target=JobState.ERROR, attempt=attempt,
        where={"attempt": attempt, "runner": doc.get("runner")},
        fields={"reason": str(why.reason), "error": why.error},
    )  # fmt: skip
    return done is not None
