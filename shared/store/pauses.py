"""Pauses as stored: one document per pause, ``{_id: pause_id, lane, cluster, paused_at}``."""

from __future__ import annotations

import time

from laneyard.shared.pausing import Pauses, pause_id
from laneyard.shared.store.database import Database, Doc

MAX_PAUSES = 10_000


async def pause(db: Database, lane: str | None, cluster: str | None) -> float:
    """Records the pause (pausing twice keeps the first time); returns when it was paused."""
    key = pause_id(lane, cluster)
    await db["pauses"].update_one(
        {"_id": key},
        {"$setOnInsert": {"lane": lane, "cluster": cluster, "paused_at": time.time()}},
        upsert=True,
    )
    doc = await db["pauses"].find_one({"_id": key})
    return float(doc["paused_at"]) if doc is not None else time.time()


async def resume(db: Database, lane: str | None, cluster: str | None) -> bool:
    """False when there was no such pause."""
    return (await db["pauses"].delete_one({"_id": pause_id(lane, cluster)})).deleted_count > 0


async def all_pauses(db: Database) -> list[Doc]:
    return [d async for d in db["pauses"].find().limit(MAX_PAUSES)]


async def load(db: Database) -> Pauses:
    return Pauses.of_docs(await all_pauses(db))
