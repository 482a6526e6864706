"""Schedule documents: a job template and when to submit it (every N seconds, a cron expression, or
once after another job ends).

Exactly once per fire time, however many dispatchers fire: the job for a fire time is submitted
with the idempotency key ``schedule:<id>:<fire time>`` (so a second submission gets the first job
back), and ``advance`` moves ``next_run_at`` on with one find_one_and_update filtered on the fire
time it read (so only one dispatcher records the fire). Submitting before advancing means a
dispatcher that dies in between leaves the fire due, and whoever fires it next gets the same job.

A schedule with ``jitter`` stores every time (``next_run_at``, ``last_fire_at``, fire keys) as
its fire time plus its ``jitter_offset``: ``cadence_of`` works in those times, so pausing, resuming
and advancing need not know about jitter; ``nominal`` gives the fire time itself.

The overlap policy (``shared.schedule_overlap``) reads ``open_jobs``; a fire kept for later by
``buffer_one`` is ``buffer`` (with ``buffered`` for the query), released by ``release_buffer`` once
the runs it waits for have ended. ``runs`` and ``skipped`` keep the latest ``MAX_HISTORY`` of each,
written whole (nx-27017 stores a document pushed into an array as a string) by updates filtered on
the ``updated_at`` they were computed from, so two writers never drop each other's entries.

Only ``_id`` is indexed on nx-27017, so ``due``, ``watching`` and ``buffered`` scan the collection:
schedules are few (``MAX_SCHEDULES``), and each call returns a bounded number of them.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pymongo import ASCENDING, ReturnDocument

from laneyard.shared.schedule_overlap import Overlap
from laneyard.shared.schedule_times import Cadence, CatchUp, Cron, Every, Jittered
from laneyard.shared.states import TERMINAL
from laneyard.shared.store.database import Database, Doc

Kind = Literal["every", "cron", "start_after"]

MAX_SCHEDULES = 1000
# A schedule keeps the ids of the jobs it created until they end, to learn its last successful
# run without scanning jobs; a schedule whose jobs pile up (none of them ever ends) keeps the newest.
MAX_OPEN_JOBS = 32
MAX_HISTORY = 20
DEFAULT_CATCH_UP_LIMIT = 100
HISTORY_ROUNDS = 5
RunKind = Literal["scheduled", "manual", "backfill"]


def new_id() -> str:
    return uuid.uuid4().hex


def cadence_of(doc: Doc) -> Cadence:
    """The times of an ``every`` or ``cron`` schedule, moved by its jitter offset."""
    offset = float(doc.get("jitter_offset") or 0.0)
    inner: Every | Cron
    if doc["kind"] == "every":
        on_grid = doc.get("next_run_at") or doc.get("last_fire_at")
        anchor = float(on_grid) - offset if on_grid is not None else 0.0
        inner = Every(float(doc["every"]), anchor) if on_grid is not None else Every(float(doc["every"]))
    else:
        inner = Cron(str(doc["cron"]), str(doc.get("timezone") or "UTC"))
    return Jittered(inner, offset) if offset else inner


def nominal(doc: Doc, at: float) -> float:
    """The fire time itself of a stored time (which includes the schedule's jitter offset)."""
    return ms(at - float(doc.get("jitter_offset") or 0.0))


def overlap_of(doc: Doc) -> Overlap:
    # A schedule stored before overlap policies existed keeps the behaviour it was created with.
    return Overlap(doc.get("overlap") or Overlap.ALLOW)


def catch_up_of(doc: Doc) -> tuple[CatchUp, int]:
    mode: CatchUp = "all" if doc.get("catch_up") == "all" else "one"
    return mode, int(doc.get("catch_up_limit") or DEFAULT_CATCH_UP_LIMIT)


def run_entry(job_id: str, at: float, kind: RunKind) -> Doc:
    """One line of a schedule's ``runs``: the job, the (stored) fire time it ran for, and why."""
    return {"job_id": job_id, "fire_at": at, "kind": kind, "submitted_at": time.time()}


def appended(doc: Doc, field: str, entries: list[Doc]) -> list[Doc]:
    """The history ``field`` of ``doc`` with ``entries`` added, the latest ``MAX_HISTORY`` kept."""
    return [*(doc.get(field) or []), *entries][-MAX_HISTORY:]


def run_labels(fire_at: float, kind: RunKind) -> dict[str, str]:
    """The labels a schedule adds to each job: its fire time (ISO 8601, UTC) and why it ran."""
    return {"laneyard.fire_at": datetime.fromtimestamp(fire_at, UTC).isoformat(), "laneyard.run": kind}


def upcoming(doc: Doc, count: int = 5) -> list[float]:
    """Its next ``count`` fire times (stored times, jitter included), none past its ``end_at``."""
    at = doc.get("next_run_at")
    if at is None:
        return []
    if doc.get("kind") == "start_after":
        return [float(at)]
    cadence, end_at = cadence_of(doc), doc.get("end_at")
    found = [float(at)]
    while len(found) < count:
        nxt = cadence.next(found[-1])
        if end_at is not None and nominal(doc, nxt) > float(end_at):
            break
        found.append(ms(nxt))
    return found


def skip_entry(at: float, reason: str, kind: RunKind = "scheduled") -> Doc:
    return {"fire_at": at, "reason": reason, "kind": kind, "skipped_at": time.time()}


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
    overlap: Overlap = Overlap.SKIP,
    catch_up: CatchUp = "one",
    catch_up_limit: int = DEFAULT_CATCH_UP_LIMIT,
    start_at: float | None = None,
    end_at: float | None = None,
    jitter: float = 0.0,
    jitter_offset: float = 0.0,
    timezone: str = "UTC",
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
        "overlap": str(overlap),
        "catch_up": catch_up,
        "catch_up_limit": catch_up_limit,
        "start_at": start_at,
        "end_at": end_at,
        "jitter": jitter,
        "jitter_offset": jitter_offset,
        "timezone": timezone,
        "buffer": None,  # {"at", "key", "kind"}: the fire buffer_one keeps until the previous run ends
        "buffered": False,
        "runs": [],
        "skipped": [],
        "skips": 0,
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
    skipped: Doc | None = None,
    buffer: Doc | None = None,
    read: Doc | None = None,
) -> bool:
    """Records the fire at ``fire_at`` (its job, or that it was skipped or buffered); False if
    another dispatcher recorded it first (or, given the doc it ``read``, anyone wrote its history).
    """
    where: dict[str, Any] = {"_id": schedule_id, "next_run_at": fire_at}
    history = read if read is not None else {}
    if read is not None and (job_id is not None or skipped is not None):
        where["updated_at"] = read.get("updated_at")
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
        fields["runs"] = appended(history, "runs", [run_entry(job_id, fire_at, "scheduled")])
    elif skipped is not None:
        update["$inc"] = {"skips": 1}
        fields["skipped"] = appended(history, "skipped", [skipped])
    elif buffer is not None:
        fields["buffer"] = buffer
        fields["buffered"] = True
    doc = await db["schedules"].find_one_and_update(where, update, projection={"_id": True})
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


async def unfinished(db: Database, doc: Doc) -> list[str]:
    """Its jobs that have not ended yet, oldest first (a job no longer stored has ended)."""
    open_ids = [str(i) for i in doc.get("open_jobs") or []]
    if not open_ids:
        return []
    cursor = db["jobs"].find({"_id": {"$in": open_ids}}, projection={"state": True})
    running = {job["_id"] async for job in cursor if job.get("state") not in TERMINAL}
    return [i for i in open_ids if i in running]


async def _add_history(db: Database, schedule_id: str, field: str, entries: list[Doc], extra: Doc) -> None:
    """Adds to a history array, re-reading when another writer got in between (a few rounds)."""
    for _ in range(HISTORY_ROUNDS):
        doc = await db["schedules"].find_one(
            {"_id": schedule_id}, projection={field: True, "updated_at": True}
        )
        if doc is None:
            return
        update = {**extra, "$set": {**extra.get("$set", {}), field: appended(doc, field, entries)}}
        update["$set"]["updated_at"] = time.time()
        result = await db["schedules"].update_one(
            {"_id": schedule_id, "updated_at": doc.get("updated_at")}, update
        )
        if result.modified_count:
            return


async def record_runs(db: Database, schedule_id: str, runs: list[Doc]) -> None:
    """Runs started outside the schedule's own fires (a trigger, a backfill), oldest first."""
    if not runs:
        return
    job_ids = [str(run["job_id"]) for run in runs]
    extra: Doc = {
        "$set": {"last_job_id": job_ids[-1], "watching": True},
        "$inc": {"fires": len(runs)},
        "$push": {"open_jobs": {"$each": job_ids[-MAX_OPEN_JOBS:], "$slice": -MAX_OPEN_JOBS}},
    }
    await _add_history(db, schedule_id, "runs", runs, extra)


async def record_skip(db: Database, schedule_id: str, skipped: Doc) -> None:
    await _add_history(db, schedule_id, "skipped", [skipped], {"$inc": {"skips": 1}})


async def keep_buffer(db: Database, schedule_id: str, buffer: Doc) -> bool:
    """Keeps a fire for when the previous run ends; False if one is kept already."""
    result = await db["schedules"].update_one(
        {"_id": schedule_id, "buffered": {"$in": [False, None]}},
        {"$set": {"buffer": buffer, "buffered": True, "updated_at": time.time()}},
    )
    return bool(result.modified_count)


async def buffered(db: Database, limit: int) -> list[Doc]:
    """Unpaused schedules keeping a fire for when their previous run ends."""
    cursor = db["schedules"].find({"buffered": True, "paused": False})
    return [doc async for doc in cursor.limit(limit)]


async def release_buffer(db: Database, schedule_id: str, buffer: Doc, job_id: str | None, read: Doc) -> bool:
    """The kept fire was submitted (as ``job_id``, or refused for good when None); False if
    another dispatcher released it first."""
    update: dict[str, Any] = {"$set": {"buffer": None, "buffered": False, "updated_at": time.time()}}
    if job_id is not None:
        update["$set"].update(last_job_id=job_id, watching=True)
        update["$inc"] = {"fires": 1}
        update["$push"] = {"open_jobs": {"$each": [job_id], "$slice": -MAX_OPEN_JOBS}}
        update["$set"]["runs"] = appended(read, "runs", [run_entry(job_id, buffer["at"], buffer["kind"])])
    result = await db["schedules"].update_one(
        {
            "_id": schedule_id,
            "buffered": True,
            "buffer.key": buffer["key"],
            "updated_at": read.get("updated_at"),
        },
        update,
    )
    return bool(result.modified_count)


async def jobs_outcomes(db: Database, job_ids: list[str]) -> dict[str, Doc]:
    """The state (and end) of each of these jobs that is still stored, by id."""
    if not job_ids:
        return {}
    cursor = db["jobs"].find(
        {"_id": {"$in": job_ids}}, projection={"state": True, "updated_at": True, "reason": True}
    )
    return {job["_id"]: job async for job in cursor}
