"""Job documents. ``transition`` is the one place where a job's state changes."""

from __future__ import annotations

import time
from typing import Any

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared.models import JobMessage
from shared.states import JobState, check_transition
from shared.store.database import Database, Doc


def new_job_doc(job: JobMessage, now: float | None = None) -> Doc:
    at = now if now is not None else time.time()
    # The job entered its queue when it was published, which happened before this write (and maybe
    # before the dispatcher's WAITING write): submitted_at is taken before the publish.
    queued_at = job.submitted_at if job.attempt == 1 else at
    return {
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
        "labels": job.labels,
        "idempotency_key": job.idempotency_key,
        "not_before": job.not_before,
        "schedule_id": job.schedule_id,
        "last_completed_at": job.last_completed_at,
        "state": str(JobState.IN_QUEUE),
        "attempt": job.attempt,
        "created_at": job.submitted_at,
        "updated_at": at,
        # timeline[attempt][state] = when the job last entered that state in that attempt
        "timeline": {str(job.attempt): {str(JobState.IN_QUEUE): queued_at}},
    }


async def insert(db: Database, job: JobMessage) -> bool:
    """Record a job as IN_QUEUE; False if it is already recorded (never overwrites a later state)."""
    try:
        await db["jobs"].insert_one(new_job_doc(job))
    except DuplicateKeyError:
        return False
    return True


async def get(db: Database, job_id: str) -> Doc | None:
    return await db["jobs"].find_one({"_id": job_id})


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
    sources = frozenset(sources)
    check_transition(sources, target)
    now = time.time()
    query: dict[str, Any] = {"_id": job_id, "state": {"$in": [str(s) for s in sources]}}
    if where:
        query.update(where)
    update = {
        "state": str(target),
        "attempt": attempt,
        "updated_at": now,
        f"timeline.{attempt}.{target}": now,
        **(fields or {}),
    }
    return await db["jobs"].find_one_and_update(
        query,
        {"$set": update},
        projection={"args": False},
        return_document=ReturnDocument.AFTER,
    )


async def note(db: Database, job_id: str, fields: dict[str, Any]) -> None:
    """Sets informational fields (never ``state``: that is ``transition``'s alone)."""
    if "state" in fields:
        raise ValueError("use transition() to change a job's state")
    await db["jobs"].update_one({"_id": job_id}, {"$set": fields})
