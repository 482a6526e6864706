"""Job documents: building, reading, and the primitive conditional state write.

``transition`` is the write every state change is made of; only ``shared.lifecycle`` calls it
(a unit test holds every other module to that), through named operations.
"""

from __future__ import annotations

import time
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState, check_transition
from laneyard.shared.store import event_intents
from laneyard.shared.store.database import Database, Doc


def new_job_doc(job: JobMessage, now: float | None = None) -> Doc:
    at = now if now is not None else time.time()
    # The job entered its queue when it was published, which happened before this write (and maybe
    # before the dispatcher's WAITING write): submitted_at is taken before the publish.
    queued_at = job.submitted_at if job.attempt == 1 else at
    doc: Doc = {
        "_id": job.id,
        "task": job.task,
        "args": job.args,
        "lane": job.lane,
        "cluster": job.cluster,
        "priority": job.priority,
        "tier": str(job.tier),
        "max_execution_time": job.max_execution_time,
        "max_retries": job.max_retries,
        "retry_backoff": job.retry_backoff,
        "slots": job.slots,
        "heartbeat_timeout": job.heartbeat_timeout,
        "labels": job.labels,
        "idempotency_key": job.idempotency_key,
        "not_before": job.not_before,
        "schedule_id": job.schedule_id,
        "last_completed_at": job.last_completed_at,
        "retention_days": job.retention_days,
        "state": str(JobState.IN_QUEUE),
        "attempt": job.attempt,
        "created_at": job.submitted_at,
        "updated_at": at,
        # timeline[attempt][state] = when the job last entered that state in that attempt
        "timeline": {str(job.attempt): {str(JobState.IN_QUEUE): queued_at}},
    }
    if job.parent_id is not None:
        doc["parent_id"] = job.parent_id
    if job.callback_url is not None:
        doc["callback_url"] = job.callback_url
    if job.concurrency_key is not None:
        # Read back where a job's slot is released (shared.lifecycle) and by the slot sweep.
        doc["concurrency_key"] = job.concurrency_key
    if job.fairness_key is not None:
        # A job re-queued from the database (a lost runner's) goes back into its key's shard.
        doc["fairness_key"] = job.fairness_key
    return doc


def insert_intent(doc: Doc) -> Doc:
    """The event intent of recording a new job document (``new_job_doc``)."""
    attempt = int(doc["attempt"])
    queued_at = float(doc["timeline"][str(attempt)][str(JobState.IN_QUEUE)])
    return event_intents.intent(doc["_id"], attempt, JobState.IN_QUEUE, queued_at)


async def insert(db: Database, job: JobMessage) -> bool:
    """Record a job as IN_QUEUE; False if it is already recorded (never overwrites a later state)."""
    doc = new_job_doc(job)
    intent = insert_intent(doc)
    await event_intents.stage(db, [intent])
    try:
        await db["jobs"].insert_one(doc)
    except DuplicateKeyError:
        await event_intents.withdraw(db, [intent["_id"]])
        return False
    return True


async def get(db: Database, job_id: str) -> Doc | None:
    return await db["jobs"].find_one({"_id": job_id})


def transition_update(
    job_id: str,
    *,
    sources: frozenset[JobState] | set[JobState],
    target: JobState,
    attempt: int,
    where: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
    now: float | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The filter and update of a state change (shared with the batched writes in job_writes.py)."""
    sources = frozenset(sources)
    check_transition(sources, target)
    at = time.time() if now is None else now
    # One source is matched by equality: the same on MongoDB, and on the embedded server a
    # filter with $in costs more than twice as much as an equality (275 against 116 us a write).
    state: Any = str(next(iter(sources))) if len(sources) == 1 else {"$in": sorted(str(s) for s in sources)}
    query: dict[str, Any] = {"_id": job_id, "state": state}
    if where:
        query.update(where)
    update = {
        "state": str(target),
        "attempt": attempt,
        "updated_at": at,
        f"timeline.{attempt}.{target}": at,
        **(fields or {}),
    }
    return query, {"$set": update}


async def transition(
    db: Database,
    job_id: str,
    *,
    sources: frozenset[JobState] | set[JobState],
    target: JobState,
    attempt: int,
    where: dict[str, Any] | None = None,
    fields: dict[str, Any] | None = None,
) -> Doc | None:
    """Move a job from one of ``sources`` to ``target``; None if it was in none of them.

    ``attempt`` is the attempt the job is in after the change; it keys the timeline entry.
    ``where`` adds conditions (the runner holding it, the attempt it must be in).
    """
    at = time.time()
    query, update = transition_update(
        job_id, sources=sources, target=target, attempt=attempt, where=where, fields=fields, now=at
    )
    # Staged first: a crash after the state write still leaves the event to be found.
    intent = event_intents.intent(job_id, attempt, target, at, fields)
    await event_intents.stage(db, [intent])
    doc = await db["jobs"].find_one_and_update(
        query,
        update,
        projection={"args": False},
        return_document=ReturnDocument.AFTER,
    )
    if doc is None:
        await event_intents.withdraw(db, [intent["_id"]])
    return doc


async def note(db: Database, job_id: str, fields: dict[str, Any]) -> None:
    """Sets informational fields (never ``state``: that is ``transition``'s alone)."""
    if "state" in fields:
        raise ValueError("use transition() to change a job's state")
    await db["jobs"].update_one({"_id": job_id}, {"$set": fields})
