"""Every change of a job's state, as named operations: the one module that writes a job's state.

    record        (new)                          admission, or a dispatcher that got its message first
    mark_waiting  IN_QUEUE -> WAITING            dispatcher, forwarding it to its cluster
    send_back     WAITING -> IN_QUEUE            runner without room after all
    start         WAITING -> RUNNING             runner
    finish        RUNNING -> COMPLETED | ERROR | CANCELLED
    await_subtasks RUNNING -> AWAITING_SUBTASKS  runner; the last child's end finishes it
    requeue       RUNNING -> IN_QUEUE            retry, shutdown hand-back, recovery (outbox)
    dead_letter   IN_QUEUE | WAITING -> ERROR    a message that cannot be run
    cancel_queued IN_QUEUE | WAITING -> CANCELLED, cancel_awaiting AWAITING_SUBTASKS -> CANCELLED
    request_cancel (RUNNING: asks its runner)   admission
    recover_lost, expire                         the dispatcher's reaper

Each is one conditional update (``shared.store.jobs.transition``, or its batched form in
``JobWrites``): it names the state it leaves and, where it matters, the runner and attempt it
expects, so a change that two processes race to make happens once. A change that also needs a
message, re-queueing, goes through the outbox (``shared.store.outbox``): intent, state change,
publish, drop, and a sweeper for intents left by a crash, so a job is never IN_QUEUE without a
message for longer than a sweep. A sub-task's end is written into its parent, which it may finish.

The decisions (what a lost job becomes, when a job has overstayed) are pure functions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from laneyard.shared import faults
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.reasons import Reason
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store import jobs, outbox, subtasks
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.store.job_record import JobRecord
from laneyard.shared.store.job_writes import JobWrites

log = logging.getLogger(__name__)

# A RUNNING job this long past its max_execution_time whose runner has not stopped it is ended.
FAILOVER_GRACE_SECONDS = 60.0


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


def overstay(job: JobRecord, now: float, grace: float = FAILOVER_GRACE_SECONDS) -> Overstay | None:
    """Whether a RUNNING job has run past its time limit plus ``grace``, or gone silent past its
    ``heartbeat_timeout`` with no heartbeat (its start counts as the first one)."""
    started = job.entered(JobState.RUNNING) or now
    limit = job.max_execution_time
    if limit and now > started + limit + grace:
        return Overstay(
            Reason.TIMEOUT_REAPED,
            f"still RUNNING {now - started:.0f}s after it started, past max_execution_time ({limit:g}s) "
            f"and the {grace:g}s grace: its runner did not stop it",
        )
    silent_limit = job.heartbeat_timeout
    if silent_limit:
        last = max(started, job.heartbeat_at or 0.0)
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
    moved = await _transition(
        db, job.id, sources={JobState.RUNNING}, target=JobState.IN_QUEUE, attempt=next_attempt,
        where=where, fields={"runner": None, **(fields or {})},
    )  # fmt: skip
    if moved is None:
        await outbox.drop(db, key)
        return False
    faults.point("requeue_before_publish")  # tests only: a crash that leaves the intent to the sweeper
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


async def recover_lost(db: Database, bus: Bus, job: JobRecord, holder: str) -> Fate | None:
    """Ends or re-queues a RUNNING job whose runner ``holder`` is gone; None if it moved meanwhile."""
    attempt = job.attempt
    where = {"runner": holder, "attempt": attempt}
    fate = fate_of_lost(attempt, job.max_retries, job.cancel_requested_at is not None)
    if fate is Fate.CANCEL:
        reason = Reason.CANCELLED_ON_REQUEST
        done = await _transition(
            db, job.id, sources={JobState.RUNNING}, target=JobState.CANCELLED, attempt=attempt,
            where=where, fields={"reason": str(reason), "error": f"{reason}; its runner {holder} was lost"},
        )  # fmt: skip
        return fate if done is not None else None
    if fate is Fate.FAIL:
        done = await _transition(
            db, job.id, sources={JobState.RUNNING}, target=JobState.ERROR, attempt=attempt,
            where=where,
            fields={"reason": str(Reason.RUNNER_LOST), "error": f"runner {holder} was lost mid-task"},
        )  # fmt: skip
        return fate if done is not None else None
    moved = await requeue(
        db, bus, job.message(), attempt=attempt, next_attempt=attempt + 1, holder=holder,
        fields={"lost_runner": holder, "reason": str(Reason.RUNNER_LOST),
                f"timeline.{attempt}.{JobState.ERROR}": time.time()},
    )  # fmt: skip
    return fate if moved else None


async def expire(db: Database, job: JobRecord, why: Overstay) -> bool:
    """RUNNING -> ERROR for a job that overstayed (``overstay``), whichever runner holds it."""
    attempt = job.attempt
    done = await _transition(
        db, job.id, sources={JobState.RUNNING}, target=JobState.ERROR, attempt=attempt,
        where={"attempt": attempt, "runner": job.runner},
        fields={"reason": str(why.reason), "error": why.error},
    )  # fmt: skip
    return done is not None


async def _transition(
    db: Database,
    job_id: str,
    *,
    sources: frozenset[JobState] | set[JobState],
    target: JobState,
    attempt: int,
    where: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> Doc | None:
    """One conditional state write; a sub-task's end is then written into its parent."""
    doc = await jobs.transition(
        db, job_id, sources=sources, target=target, attempt=attempt, where=where, fields=fields
    )
    if doc is not None and target in TERMINAL and doc.get("parent_id"):
        await child_ended(db, doc)
    return doc


async def record(writes: JobWrites, job: JobMessage) -> bool:
    """A new job, IN_QUEUE; False if it is recorded already (never overwrites a later state)."""
    return await writes.insert(job)


async def mark_waiting(writes: JobWrites, job: JobMessage) -> bool:
    return await writes.transition(
        job.id, sources={JobState.IN_QUEUE}, target=JobState.WAITING,
        attempt=job.attempt, where={"attempt": job.attempt},
    )  # fmt: skip


async def send_back(db: Database, job: JobMessage) -> bool:
    done = await _transition(
        db, job.id, sources={JobState.WAITING}, target=JobState.IN_QUEUE,
        attempt=job.attempt, where={"attempt": job.attempt},
    )  # fmt: skip
    return done is not None


async def start(writes: JobWrites, job: JobMessage, runner_id: str) -> bool:
    """The one write that makes a job this runner's: only from WAITING, so it runs once."""
    return await writes.transition(
        job.id, sources={JobState.WAITING}, target=JobState.RUNNING,
        attempt=job.attempt, where={"attempt": job.attempt}, fields={"runner": runner_id},
    )  # fmt: skip


async def finish(
    db: Database,
    writes: JobWrites,
    job: JobMessage,
    attempt: int,
    runner_id: str,
    target: JobState,
    fields: dict[str, Any],
) -> bool:
    """RUNNING -> an end, while ``runner_id`` still holds ``attempt``; False if it no longer did."""
    where = {"runner": runner_id, "attempt": attempt}
    if job.parent_id is None:
        return await writes.transition(
            job.id, sources={JobState.RUNNING}, target=target, attempt=attempt, where=where, fields=fields
        )
    # Not batched: a sub-task's end may finish its parent, which needs the document it wrote.
    done = await _transition(
        db, job.id, sources={JobState.RUNNING}, target=target, attempt=attempt, where=where, fields=fields
    )
    return done is not None


async def await_subtasks(db: Database, job_id: str, attempt: int, runner_id: str, result: Any) -> None:
    """The job's own function returned with sub-tasks spawned: it frees its runner and waits."""
    parent = await _transition(
        db, job_id, sources={JobState.RUNNING}, target=JobState.AWAITING_SUBTASKS, attempt=attempt,
        where={"attempt": attempt, "runner": runner_id}, fields={"result": result},
    )  # fmt: skip
    if parent is not None:
        await _settle(db, parent)


async def child_ended(db: Database, child: Doc) -> None:
    """Writes an ended sub-task into its parent, then finishes the parent if that was the last word.
    Never raises: the child's own end has happened, and its caller must not take it for a failure."""
    for attempt in range(3):
        try:
            parent = await subtasks.record_child_end(db, child)
            if parent is not None:
                await _settle(db, parent)
            return
        except Exception:
            log.exception("recording a sub-task's end in its parent failed (try %d)", attempt + 1,
                          extra={"job_id": child.get("parent_id")})  # fmt: skip


async def _settle(db: Database, parent: Doc) -> None:
    ending = subtasks.parent_outcome(parent)
    if ending is not None:
        target, fields = ending
        attempt = int(parent["attempt"])
        await _transition(
            db, parent["_id"], sources={JobState.AWAITING_SUBTASKS}, target=target, attempt=attempt,
            where={"attempt": attempt}, fields=fields,
        )  # fmt: skip


async def dead_letter(db: Database, job: JobMessage, error: str, dead_id: str) -> bool:
    """A queued job whose message cannot be run ends ERROR with the dead letter recorded."""
    done = await _transition(
        db, job.id, sources={JobState.IN_QUEUE, JobState.WAITING}, target=JobState.ERROR,
        attempt=job.attempt,
        fields={"reason": str(Reason.DEAD_LETTERED), "error": error, "dead_letter": dead_id},
    )  # fmt: skip
    return done is not None


CANCELLABLE = frozenset({JobState.IN_QUEUE, JobState.WAITING})


async def cancel_queued(db: Database, job_id: str, attempt: int) -> bool:
    done = await _transition(
        db, job_id, sources=CANCELLABLE, target=JobState.CANCELLED, attempt=attempt,
        where={"attempt": attempt}, fields={"reason": str(Reason.CANCELLED_ON_REQUEST)},
    )  # fmt: skip
    return done is not None


async def cancel_awaiting(db: Database, job_id: str, attempt: int) -> bool:
    """A job waiting for its sub-tasks is cancelled here and now: no runner holds it. Its sub-tasks
    are left to finish; their ends no longer change it."""
    done = await _transition(
        db, job_id, sources={JobState.AWAITING_SUBTASKS}, target=JobState.CANCELLED, attempt=attempt,
        where={"attempt": attempt}, fields={"reason": str(Reason.CANCELLED_ON_REQUEST)},
    )  # fmt: skip
    return done is not None


async def request_cancel(db: Database, job_id: str) -> bool:
    """Marks a RUNNING job as asked to stop (its runner is told separately; the reaper honours the
    mark if that runner is lost). False if the job is not RUNNING."""
    marked = await db["jobs"].update_one(
        {"_id": job_id, "state": str(JobState.RUNNING)}, {"$set": {"cancel_requested_at": time.time()}}
    )
    return marked.matched_count > 0
