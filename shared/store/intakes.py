"""Intake queues that exist (one per throttled lane and cluster), so every admission replica moves them."""

from __future__ import annotations

import time

from laneyard.shared.store.database import Database, Doc


async def register(db: Database, lane: str, cluster: str) -> None:
    await db["intakes"].update_one(
        {"_id": f"{lane}.{cluster}"},
        {"$setOnInsert": {"lane": lane, "cluster": cluster, "created_at": time.time()}},
        upsert=True,
    )


async def all_intakes(db: Database) -> list[Doc]:
    return [d async for d in db["intakes"].find().limit(10_000)]
