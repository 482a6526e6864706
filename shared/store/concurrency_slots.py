"""Slots of concurrency keys: one counter document per key, the only thing that holds a key's limit.

    {_id: key, running: n, holders: {job id: taken at}, parked: bool, park_seq: n}

``take`` is one conditional update (``running < limit`` and the job not yet a holder), atomic on
MongoDB and on nx-27017 alike, so two dispatchers racing during a lease handover cannot both take
the last slot: the lease is not what bounds a key. ``running`` always moves with ``holders`` in the
same write, so the holders are the slots, and a sweep can free those whose job no longer waits or
runs. Holders are a map, not an array: nx-27017 has no array membership queries, and a key's map
holds at most its limit. ``parked``/``park_seq`` say that jobs of the key wait in its park queue
(``services/dispatcher/concurrency_gate.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from pymongo.errors import DuplicateKeyError

from laneyard.shared.store.database import Database, Doc

COLLECTION = "concurrency_slots"
MAX_KEYS = 100_000  # reads of every key's document are bounded by this
INSERT_TRIES = 3


class Took(StrEnum):
    NEW = "new"  # the job took a free slot
    HELD = "held"  # it held one already (its message came again): still its own, not a second
    FULL = "full"  # the key has no free slot


@dataclass(frozen=True)
class Slots:
    key: str
    running: int
    holders: dict[str, float]
    parked: bool
    park_seq: int

    @classmethod
    def of(cls, doc: Doc) -> Slots:
        return cls(
            key=str(doc["_id"]),
            running=int(doc.get("running") or 0),
            holders={str(k): float(v or 0) for k, v in (doc.get("holders") or {}).items()},
            parked=bool(doc.get("parked")),
            park_seq=int(doc.get("park_seq") or 0),
        )


async def take(db: Database, key: str, job_id: str, limit: int, now: float | None = None) -> Took:
    """One slot of ``key`` for ``job_id`` while fewer than ``limit`` are taken."""
    at = time.time() if now is None else now
    slots = db[COLLECTION]
    for _ in range(INSERT_TRIES):
        taken = await slots.find_one_and_update(
            {"_id": key, "running": {"$lt": limit}, f"holders.{job_id}": {"$exists": False}},
            {"$inc": {"running": 1}, "$set": {f"holders.{job_id}": at}},
            projection={"_id": True},
        )
        if taken is not None:
            return Took.NEW
        doc = await slots.find_one({"_id": key}, projection={"holders": True})
        if doc is not None and job_id not in (doc.get("holders") or {}):
            return Took.FULL
        if doc is not None:
            # Taken again now, so the sweep (which frees old holders whose job is neither WAITING
            # nor RUNNING, if their time is unchanged) cannot free it under this dispatch.
            renewed = await slots.update_one(
                {"_id": key, f"holders.{job_id}": {"$exists": True}}, {"$set": {f"holders.{job_id}": at}}
            )
            if renewed.matched_count:
                return Took.HELD
            continue  # freed meanwhile: take it anew
        if limit <= 0:
            return Took.FULL
        try:
            await slots.insert_one(
                {"_id": key, "running": 1, "holders": {job_id: at}, "parked": False, "park_seq": 0}
            )
            return Took.NEW
        except DuplicateKeyError:
            continue  # another dispatcher made the key's document first: take through it
    return Took.FULL


async def release(db: Database, key: str, job_id: str) -> bool:
    """Frees ``job_id``'s slot of ``key``; False if it held none (released already, or never took
    one), so releasing twice, or from every path that ends a job, frees one slot once."""
    done = await db[COLLECTION].update_one(
        {"_id": key, f"holders.{job_id}": {"$exists": True}},
        {"$inc": {"running": -1}, "$unset": {f"holders.{job_id}": ""}},
    )
    return done.modified_count > 0


async def free_stale(db: Database, key: str, job_id: str, taken_at: float) -> bool:
    """Frees a slot the sweep found stale, only if it was not taken again since it looked."""
    done = await db[COLLECTION].update_one(
        {"_id": key, f"holders.{job_id}": taken_at},
        {"$inc": {"running": -1}, "$unset": {f"holders.{job_id}": ""}},
    )
    return done.modified_count > 0


async def mark_parked(db: Database, key: str) -> None:
    """Jobs of ``key`` wait in its park queue. Written after the park publish, and ``park_seq``
    moves on, so a sweep that found the queue empty before this cannot clear the mark after it."""
    await db[COLLECTION].update_one(
        {"_id": key},
        {"$inc": {"park_seq": 1}, "$set": {"parked": True}, "$setOnInsert": {"running": 0, "holders": {}}},
        upsert=True,
    )


async def clear_parked(db: Database, key: str, seen_seq: int) -> bool:
    """The key's park queue was found empty: unmarked, unless a job was parked since ``seen_seq``
    was read."""
    done = await db[COLLECTION].update_one({"_id": key, "park_seq": seen_seq}, {"$set": {"parked": False}})
    return done.modified_count > 0


async def of_keys(db: Database, keys: list[str]) -> dict[str, Slots]:
    """The slot documents of ``keys`` (an ``_id`` lookup, indexed everywhere)."""
    if not keys:
        return {}
    cursor = db[COLLECTION].find({"_id": {"$in": keys}})
    return {str(d["_id"]): Slots.of(d) async for d in cursor}


async def parked_keys(db: Database) -> list[Slots]:
    cursor = db[COLLECTION].find({"parked": True}).limit(MAX_KEYS)
    return [Slots.of(d) async for d in cursor]


async def everything(db: Database) -> list[Slots]:
    """Every key that ever took a slot or parked a job (one small document each)."""
    cursor = db[COLLECTION].find({}).limit(MAX_KEYS)
    return [Slots.of(d) async for d in cursor]
