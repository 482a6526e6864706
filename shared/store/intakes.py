"""Intake queues that exist (one per throttled lane and cluster, and per rated job key of one), so every
admission replica moves them.

A keyed intake's ``touched_at`` is renewed by admission while it sends jobs there, so movers can tell
a key gone quiet (its mover then deletes the queue and this record) from one in use.
"""

from __future__ import annotations

import time

from laneyard.shared.store.database import Database, Doc


def intake_id(lane: str, cluster: str, key: str | None = None) -> str:
    return f"{lane}.{cluster}" if key is None else f"{lane}.{cluster}.{key}"


async def register(db: Database, lane: str, cluster: str, key: str | None = None) -> None:
    if key is None:
        await db["intakes"].update_one(
            {"_id": intake_id(lane, cluster)},
            {"$setOnInsert": {"lane": lane, "cluster": cluster, "created_at": time.time()}},
            upsert=True,
        )
        return
    await db["intakes"].update_one(
        {"_id": intake_id(lane, cluster, key)},
        {
            "$setOnInsert": {"lane": lane, "cluster": cluster, "key": key, "created_at": time.time()},
            "$set": {"touched_at": time.time()},
        },
        upsert=True,
    )


async def all_intakes(db: Database) -> list[Doc]:
    return [d async for d in db["intakes"].find().limit(10_000)]


async def intake_doc(db: Database, lane: str, cluster: str, key: str) -> Doc | None:
    return await db["intakes"].find_one({"_id": intake_id(lane, cluster, key)})


async def forget(db: Database, lane: str, cluster: str, key: str, touched_at: object) -> bool:
    """Drops a key's intake unless admission touched it since ``touched_at`` was read."""
    query = {"_id": intake_id(lane, cluster, key), "touched_at": touched_at}
    return (await db["intakes"].delete_one(query)).deleted_count > 0
