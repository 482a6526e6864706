"""Concurrency limits set through the API: ``{_id: key or prefix*, max_running}``, over the settings'.

Few documents (one per key or prefix given a limit), read whole; bounded all the same.
"""

from __future__ import annotations

import time

from laneyard.shared.store.database import Database

COLLECTION = "concurrency_limits"
MAX_LIMITS = 100_000


async def put(db: Database, name: str, max_running: int) -> None:
    await db[COLLECTION].update_one(
        {"_id": name}, {"$set": {"max_running": max_running, "updated_at": time.time()}}, upsert=True
    )


async def remove(db: Database, name: str) -> bool:
    done = await db[COLLECTION].delete_one({"_id": name})
    return done.deleted_count > 0


async def all_limits(db: Database) -> dict[str, int]:
    cursor = db[COLLECTION].find({}, projection={"max_running": True}).limit(MAX_LIMITS)
    return {str(d["_id"]): int(d["max_running"]) async for d in cursor}
