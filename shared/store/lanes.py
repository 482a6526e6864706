"""The lane queues that exist (one per lane and cluster), so dispatchers know what to consume."""

from __future__ import annotations

import time
from typing import Any

from laneyard.shared.store.database import Database, Doc


def lane_id(lane: str, cluster: str) -> str:
    return f"{lane}.{cluster}"


async def register(db: Database, lane: str, cluster: str, *, fair: bool = False) -> None:
    """``fair``: its jobs carry fairness keys, so it has shard queues (a lane stays fair once it is)."""
    update: dict[str, Any] = {"$setOnInsert": {"lane": lane, "cluster": cluster, "created_at": time.time()}}
    if fair:
        update["$set"] = {"fair": True}
    await db["lanes"].update_one({"_id": lane_id(lane, cluster)}, update, upsert=True)


async def all_lanes(db: Database) -> list[Doc]:
    return [d async for d in db["lanes"].find()]
