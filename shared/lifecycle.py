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
A job with a concurrency key holds one of the key's slots while WAITING or RUNNING (the dispatcher
takes it); every change out of those states here gives it back (``shared.store.concurrency_slots``).

The decisions (what a lost job becomes, when a job has overstayed) are pure functions.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from laneyard.shared import faults, retention
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.reasons import Reason
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store import concurrency_slots, jobs, logs, outbox, subtasks
from laneyard.shared.store import webhooks as webhook_store
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.store.job_record import JobRecord
from laneyard.shared.store.job_writes import JobWrites
from laneyard.shared.webhooks import outbox as webhook_outbox

log = logging.getLogger(__name__)

# A job holds its concurrency key's slot in these states (taken by the dispatcher before WAITING);
# every change out of them gives it back.
HOLDING = frozenset({JobState.WAITING, JobState.RUNNING})
# A RUNNING job this long past its max_execution_time whose runner has not stopped it is ended.
FAILOVER_GRACE_SECONDS = 60.0
# Which lanes have webhook subscriptions, as this process last read them (shared.store.webhooks).
_subscribed = webhook_store.SubscribedLanes()


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
            retention_days=job.retention_days,
        )  # fmt: skip
        return fate if done is not None else None
    if fate is Fate.FAIL:
        done = await _transition(
            db, job.id, sources={JobState.RUNNING}, target=JobState.ERROR, attempt=attempt,
            where=where,
            fields={"reason": str(Reason.RUNNER_LOST), "error": f"runner {holder} was lost mid-task"},
            retention_days=job.retention_days,
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
        fields={"reason": str(why.reason), "error": why.error}, retention_days=job.retention_days,
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
    retention_days: float | None = None,
) -> Doc | None:
    """One conditional state write; a sub-task's end is then written into its parent."""
    if target in TERMINAL:
        # These ends are rare and their callers do not know the job's webhooks: always marked.
        fields = {**(fields or {}), **ending_fields(retention_days, webhooks=True)}
    doc = await jobs.transition(
        db, job_id, sources=sources, target=target, attempt=attempt, where=where, fields=fields
    )
    if doc is not None and target not in HOLDING and sources & HOLDING:
        await _free_slot(db, doc.get("concurrency_key"), job_id)
    if doc is not None and target in TERMINAL:
        if retention_days is None and doc.get("retention_days") is not None:
            # A caller that did not know the job's retention: the document it ended says it.
            doc["expire_at"] = ending_fields(doc["retention_days"])["expire_at"]
            await db["jobs"].update_one(
                {"_id": job_id, "state": str(target)}, {"$set": {"expire_at": doc["expire_at"]}}
            )
        await _ended(db, doc)
        await _settle_webhooks(db, doc)
        if doc.get("parent_id"):
            await child_ended(db, doc)
    return doc


async def _free_slot(db: Database, key: object, job_id: str) -> None:
    """A job that stopped waiting or running gives its concurrency key's slot back (a no-op for a
    job that held none). Never raises: the state change has happened, and the lease holder's sweep
    frees a slot whose job neither waits nor runs."""
    if not isinstance(key, str):
        return
    try:
        await concurrency_slots.release(db, key, job_id)
    except Exception:
        log.exception("freeing a concurrency slot failed; the sweep will", extra={"job_id": job_id})


def ending_fields(
    retention_days: float | None, now: float | None = None, *, webhooks: bool = False
) -> dict[str, Any]:
    """What the write that ends a job sets besides its state: when it expires (shared.retention),
    and whether it may have webhooks to deliver, in the same write so no crash can lose them."""
    fields: dict[str, Any] = {
        "expire_at": retention.expire_at(time.time() if now is None else now, retention_days)
    }
    if webhooks:
        fields[webhook_store.DUE_MARK] = True
    return fields


async def _settle_webhooks(db: Database, doc: Doc) -> None:
    """Creates an ended job's webhook deliveries; never raises (the lease holder's sweep settles a
    marked job whose settling failed)."""
    if not doc.get(webhook_store.DUE_MARK):
        return
    try:
        if doc.get("callback_url") or await _subscribed.has(db, str(doc.get("lane"))):
            await webhook_outbox.settle(db, doc)
        else:
            await webhook_store.clear_mark(db, doc["_id"])
    except Exception:
        log.exception(
            "creating a job's webhook deliveries failed; the sweep will", extra={"job_id": doc["_id"]}
        )


async def _ended(db: Database, doc: Doc) -> None:
    """After a job's end: its log lines get its expiry; a job with unfinished sub-tasks is kept (its
    expiry is set again when its last sub-task ends, ``child_ended``)."""
    if retention.unfinished_children(doc):
        await db["jobs"].update_one({"_id": doc["_id"], "state": doc["state"]}, {"$unset": {"expire_at": ""}})
        return
    at = retention.as_datetime(doc.get("expire_at"))
    await logs.expire_with_job(db, doc["_id"], int(doc.get("attempt") or 1), at)


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
        hooked = target in TERMINAL and (job.callback_url is not None or await _subscribed.has(db, job.lane))
        ending = ending_fields(job.retention_days, webhooks=hooked) if target in TERMINAL else {}
        done = await writes.transition(
            job.id, sources={JobState.RUNNING}, target=target, attempt=attempt, where=where,
            fields={**fields, **ending},
        )  # fmt: skip
        if done:
            await _free_slot(db, job.concurrency_key, job.id)
        if done and ending:
            # A job that spawned sub-tasks and failed before they ended is kept by their ends.
            await logs.expire_with_job(db, job.id, attempt, ending["expire_at"])
        if done and hooked:
            try:
                await webhook_outbox.settle_id(db, job.id)
            except Exception:
                log.exception(
                    "creating a job's webhook deliveries failed; the sweep will", extra={"job_id": job.id}
                )
        return done
    # Not batched: a sub-task's end may finish its parent, which needs the document it wrote.
    done_doc = await _transition(
        db, job.id, sources={JobState.RUNNING}, target=target, attempt=attempt, where=where, fields=fields,
        retention_days=job.retention_days,
    )  # fmt: skip
    return done_doc is not None


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
                await _keep_parent(db, parent)
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
            where={"attempt": attempt}, fields=fields, retention_days=parent.get("retention_days"),
        )  # fmt: skip


async def _keep_parent(db: Database, parent: Doc) -> None:
    """A parent that ended before its sub-tasks (cancelled, or failed) is kept while any of them
    runs, and expires its retention after the last one ends."""
    if parent.get("state") not in {str(s) for s in TERMINAL}:
        return
    where = {"_id": parent["_id"], "state": parent["state"]}
    if retention.unfinished_children(parent):
        await db["jobs"].update_one(where, {"$unset": {"expire_at": ""}})
        return
    at = ending_fields(parent.get("retention_days"))["expire_at"]
    await db["jobs"].update_one(where, {"$set": {"expire_at": at}})
    await logs.expire_with_job(db, parent["_id"], int(parent.get("attempt") or 1), at)


async def dead_letter(db: Database, job: JobMessage, error: str, dead_id: str) -> bool:
    """A queued job whose message cannot be run ends ERROR with the dead letter recorded."""
    done = await _transition(
        db, job.id, sources={JobState.IN_QUEUE, JobState.WAITING}, target=JobState.ERROR,
        attempt=job.attempt,
        fields={"reason": str(Reason.DEAD_LETTERED), "error": error, "dead_letter": dead_id},
        retention_days=job.retention_days,
    )  # fmt: skip
    return done is not None


CANCELLABLE = frozenset({JobState.IN_QUEUE, JobState.WAITING})


async def cancel_queued(
    db: Database, job_id: str, attempt: int, *, retention_days: float | None = None
) -> bool:
    done = await _transition(
        db, job_id, sources=CANCELLABLE, target=JobState.CANCELLED, attempt=attempt,
        where={"attempt": attempt}, fields={"reason": str(Reason.CANCELLED_ON_REQUEST)},
        retention_days=retention_days,
    )  # fmt: skip
    return done is not None


async def cancel_awaiting(
    db: Database, job_id: str, attempt: int, *, retention_days: float | None = None
) -> bool:
    """A job waiting for its sub-tasks is cancelled here and now: no runner holds it. Its sub-tasks
    are left to finish; their ends no longer change it."""
    done = await _transition(
        db, job_id, sources={JobState.AWAITING_SUBTASKS}, target=JobState.CANCELLED, attempt=attempt,
        where={"attempt": attempt}, fields={"reason": str(Reason.CANCELLED_ON_REQUEST)},
        retention_days=retention_days,
    )  # fmt: skip
    return done is not None


async def request_cancel(db: Database, job_id: str) -> bool:
    """Marks a RUNNING job as asked to stop (its runner is told separately; the reaper honours the
    mark if that runner is lost). False if the job is not RUNNING."""
    marked = await db["jobs"].update_one(
        {"_id": job_id, "state": str(JobState.RUNNING)}, {"$set": {"cancel_requested_at": time.time()}}
    )
    return marked.matched_count > 0
