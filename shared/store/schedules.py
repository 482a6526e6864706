"""Schedule documents: a job template and when to submit it (every N seconds, a cron expression, or
once after another job ends).

Exactly once per fire time, however many dispatchers fire: the job for a fire time is submitted
with the idempotency key ``schedule:<id>:<fire time>`` (so a second submission gets the first job
back), and ``advance`` moves ``next_run_at`` on with one find_one_and_update filtered on the fire
time it read (so only one dispatcher records the fire). Submitting before advancing means a
dispatcher that dies in between leaves the fire due, and whoever fires it next gets the same job.

Only ``_id`` is indexed on nx-27017, so ``due`` and ``watching`` scan the collection: schedules
are few (``MAX_SCHEDULES``), and each call returns a bounded number of them.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pymongo import ASCENDING, ReturnDocument

from laneyard.shared.schedule_times import Cadence, Cron, Every
from laneyard.shared.store.database import Database, Doc

Kind = Literal["every", "cron", "start_after"]

MAX_SCHEDULES = 1000
# A schedule keeps the ids of the jobs it created until they end, to learn its last successful
# run without scanning jobs; a schedule whose jobs pile up (none of them ever ends) keeps the newest.
MAX_OPEN_JOBS = 32


def new_id() -> str:
    return uuid.uuid4().hex


def cadence_of(doc: Doc) -> Cadence:
    """The times of an ``every`` or ``cron`` schedule."""
    if doc["kind"] == "every":
        return Every(float(doc["every"]))
    return Cron(str(doc["cron"]))


def fire_key(schedule_id: str, fire_at: float) -> str:
    """The idempotency key of the job for one fire: the same on every dispatcher, as both read the
    fire time from the same document."""
    return f"schedule:{schedule_id}:{fire_at:.3f}"


def ms(at: float) -> float:
    """A fire time as stored: to the millisecond, which survives any store's float round trip
    (nx-27017 keeps 15 significant digits of a value it updates), so the fire time a dispatcher
    reads back is exactly the one it filters ``advance`` on."""
    return round(at, 3)


def new_schedule_doc(
    *,
    schedule_id: str,
    name: str | None,
    job: dict[str, Any],
    kind: Kind,
    every: float | None = None,
    cron: str | None = None,
    start_after: str | None = None,
    on: str | None = None,
    next_run_at: float,
    now: float | None = None,
) -> Doc:
    at = now if now is not None else time.time()
    return {
        "_id": schedule_id,
        "name": name,
        "job": job,
        "kind": kind,
        "every": every,
        "cron": cron,
        "start_after": start_after,
        "on": on,
        "next_run_at": ms(next_run_at),  # null once a start_after schedule has fired (or never will)
        "paused": False,
        "fires": 0,
        "last_fire_at": None,
        "last_job_id": None,
        "last_completed_at": None,
        "last_error": None,
        "finished_reason": None,
        "open_jobs": [],
        "watching": False,  # True while open_jobs is not empty; nx-27017 cannot query array sizes
        "created_at": at,
        "updated_at": at,
    }


async def insert(db: Database, doc: Doc) -> None:
    await db["schedules"].insert_one(doc)


async def get(db: Database, schedule_id: str) -> Doc | None:
    return await db["schedules"].find_one({"_id": schedule_id})


async def count(db: Database) -> int:
    return int(await db["schedules"].count_documents({}))


async def all_schedules(db: Database, limit: int = MAX_SCHEDULES) -> list[Doc]:
    cursor = db["schedules"].find({}).sort("created_at", ASCENDING).limit(limit)
    return [doc async for doc in cursor]


async def delete(db: Database, schedule_id: str) -> bool:
    result = await db["schedules"].delete_one({"_id": schedule_id})
    return bool(result.deleted_count)


async def set_paused(
    db: Database, schedule_id: str, paused: bool, next_run_at: float | None = None
) -> Doc | None:
    """Pauses or resumes; a resume may move ``next_run_at`` (a paused period is not caught up)."""
    fields: dict[str, Any] = {"paused": paused, "updated_at": time.time()}
    if next_run_at is not None:
        fields["next_run_at"] = ms(next_run_at)
    return await db["schedules"].find_one_and_update(
        {"_id": schedule_id}, {"$set": fields}, return_document=ReturnDocument.AFTER
    )


async def due(db: Database, now: float, limit: int) -> list[Doc]:
    """Unpaused schedules whose next fire is at or before ``now``, the most overdue first."""
    cursor = (
        db["schedules"]
        .find({"paused": False, "next_run_at": {"$lte": now}})
        .sort("next_run_at", ASCENDING)
        .limit(limit)
    )
    return [doc async for doc in cursor]


async def watching(db: Database, limit: int) -> list[Doc]:
    """Schedules with jobs that have not ended yet (paused or finished ones too)."""
    cursor = db["schedules"].find({"watching": True}, projection={"open_jobs": True, "last_fire_at": True})
    return [doc async for doc in cursor.limit(limit)]


async def advance(
    db: Database,
    schedule_id: str,
    fire_at: float,
    next_run_at: float | None,
    *,
    job_id: str | None,
    error: str | None = None,
    finished_reason: str | None = None,
) -> bool:
    """Records the fire at ``fire_at``; False if another dispatcher recorded it first."""
    now = time.time()
    fields: dict[str, Any] = {
        "next_run_at": None if next_run_at is None else ms(next_run_at),
        "last_fire_at": fire_at,
        "last_error": error,
        "updated_at": now,
    }
    if finished_reason is not None:
        fields["finished_reason"] = finished_reason
    update: dict[str, Any] = {"$set": fields}
    if job_id is not None:
        fields["last_job_id"] = job_id
        fields["watching"] = True
        update["$inc"] = {"fires": 1}
        update["$push"] = {"open_jobs": {"$each": [job_id], "$slice": -MAX_OPEN_JOBS}}
    doc = await db["schedules"].find_one_and_update(
        {"_id": schedule_id, "next_run_at": fire_at}, update, projection={"_id": True}
    )
    return doc is not None


async def postpone(db: Database, schedule_id: str, fire_at: float, next_run_at: float) -> bool:
    """Looks again later (a start_after schedule whose job has not ended); False if it moved on."""
    result = await db["schedules"].update_one(
        {"_id": schedule_id, "next_run_at": fire_at}, {"$set": {"next_run_at": ms(next_run_at)}}
    )
    return bool(result.modified_count)


async def settle(db: Database, schedule_id: str, ended: list[str], completed_at: float | None) -> None:
    """Forgets jobs that ended; ``completed_at``, the latest completion among them, only moves forward."""
    if completed_at is not None:
        # Recorded before the jobs are forgotten, so a crash in between only repeats this $max. Two
        # writes, not one: nx-27017 drops an update that combines $max with a $pull of $in.
        await db["schedules"].update_one({"_id": schedule_id}, {"$max": {"last_completed_at": completed_at}})
    doc = await db["schedules"].find_one_and_update(
        {"_id": schedule_id},
        {"$pull": {"open_jobs": {"$in": ended}}},
        projection={"open_jobs": True},
        return_document=ReturnDocument.AFTER,
    )
    if doc is not None and not doc.get("open_jobs"):
        # Filtered on the list still being empty: a fire that pushed a job in between keeps watching.
        await db["schedules"].update_one(
            {"_id": schedule_id, "open_jobs": {"$size": 0}}, {"$set": {"watching": False}}
        )
