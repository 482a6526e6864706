"""Webhook subscriptions and deliveries (``webhooks``, ``webhook_deliveries``).

A delivery is created pending (``create``, insert-if-absent under its derived id), tried by the
dispatcher holding the lease, and ends ``delivered``, ``failed`` (given up) or ``refused`` (its
address is not one Laneyard calls). Attempts are kept newest last, at most ``MAX_ATTEMPTS`` of them,
written whole (nx-27017 stores a document pushed into an array as a string) by an update filtered
on the number of attempts it was computed from, so two senders never both record an attempt.

Only ``_id`` is indexed on nx-27017: ``due`` scans the deliveries, which are few next to jobs
(only jobs with webhooks have any, and they expire with their job), and ``marked`` scans the jobs,
which is why the sweep that calls it runs rarely (``LANEYARD_WEBHOOK_SWEEP_SECONDS``).
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from pymongo import ASCENDING, InsertOne
from pymongo.errors import BulkWriteError

from laneyard.shared.store.database import Database, Doc

SUBSCRIPTIONS = "webhooks"
DELIVERIES = "webhook_deliveries"
MAX_SUBSCRIPTIONS = 1000
MAX_ATTEMPTS = 20
DUPLICATE_KEY = 11000
# The mark an ending write sets when the job may have webhooks; cleared once its deliveries exist.
DUE_MARK = "webhook_due"

PENDING, DELIVERED, FAILED, REFUSED = "pending", "delivered", "failed", "refused"


# Subscriptions


async def subscribe(db: Database, url: str, events: list[str], lane: str, cluster: str | None) -> Doc:
    doc: Doc = {
        "_id": uuid.uuid4().hex,
        "url": url,
        "events": events,
        "lane": lane,
        "cluster": cluster,
        "created_at": time.time(),
    }
    await db[SUBSCRIPTIONS].insert_one(doc)
    return doc


async def subscriptions(db: Database) -> list[Doc]:
    return [d async for d in db[SUBSCRIPTIONS].find({}).limit(MAX_SUBSCRIPTIONS)]


async def subscription(db: Database, sub_id: str) -> Doc | None:
    return await db[SUBSCRIPTIONS].find_one({"_id": sub_id})


async def count_subscriptions(db: Database) -> int:
    return await db[SUBSCRIPTIONS].count_documents({})


async def unsubscribe(db: Database, sub_id: str) -> bool:
    return (await db[SUBSCRIPTIONS].delete_one({"_id": sub_id})).deleted_count > 0


class SubscribedLanes:
    """Which lanes have subscriptions, read at most every ``max_age`` seconds: the job-ending write
    consults it to decide whether to mark the job, without a read of its own. A subscription applies
    to jobs that end from ``max_age`` after it was made."""

    def __init__(self, max_age: float = 2.0) -> None:
        self.max_age = max_age
        self._read: dict[str, tuple[float, set[str]]] = {}  # per database name: when, which lanes

    async def has(self, db: Database, lane: str) -> bool:
        read_at, lanes = self._read.get(db.name, (float("-inf"), set()))
        if time.monotonic() - read_at >= self.max_age:
            found = db[SUBSCRIPTIONS].find({}, projection={"lane": True}).limit(MAX_SUBSCRIPTIONS)
            lanes = {str(d.get("lane")) async for d in found}
            if len(self._read) > 16:  # one database in production; a test run uses many
                self._read.clear()
            self._read[db.name] = (time.monotonic(), lanes)
        return lane in lanes


# Deliveries


async def create(db: Database, docs: list[Doc]) -> int:
    """Inserts the deliveries that do not exist yet; how many were new."""
    if not docs:
        return 0
    try:
        result = await db[DELIVERIES].bulk_write([InsertOne(d) for d in docs], ordered=False)
        return result.inserted_count
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return int(exc.details.get("nInserted", 0))


async def clear_mark(db: Database, job_id: str) -> None:
    await db["jobs"].update_one({"_id": job_id, DUE_MARK: True}, {"$unset": {DUE_MARK: ""}})


async def marked(db: Database, limit: int) -> list[Doc]:
    """Ended jobs whose deliveries may not exist yet (their writer died before creating them)."""
    found = db["jobs"].find({DUE_MARK: True}, projection={"args": False}).limit(limit)
    return [d async for d in found]


async def due(db: Database, now: float, limit: int) -> list[Doc]:
    query = {"state": PENDING, "next_at": {"$lte": now}}
    return [d async for d in db[DELIVERIES].find(query).sort("next_at", ASCENDING).limit(limit)]


async def of_job(db: Database, job_id: str, limit: int = 100) -> list[Doc]:
    found = db[DELIVERIES].find({"job_id": job_id}).sort("created_at", ASCENDING).limit(limit)
    return [d async for d in found]


async def record_attempt(db: Database, delivery: Doc, attempt: Doc, changes: dict[str, Any]) -> bool:
    """Appends ``attempt`` and sets ``changes`` (its new state, next time), if no one else recorded
    an attempt since ``delivery`` was read; False if someone did."""
    made = int(delivery.get("attempts_made") or 0)
    attempts = [*list(delivery.get("attempts") or [])[-(MAX_ATTEMPTS - 1) :], attempt]
    result = await db[DELIVERIES].update_one(
        {"_id": delivery["_id"], "state": PENDING, "attempts_made": made},
        {"$set": {"attempts": attempts, "attempts_made": made + 1, **changes}},
    )
    return result.modified_count > 0
