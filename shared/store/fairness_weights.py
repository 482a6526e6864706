"""Fairness weights as set through the API: ``{_id: "<lane>/<key>", lane, key, weight}``.

A key without a document weighs 1. Few documents (one per key given a share other than 1), read
whole by the dispatcher; bounded by ``MAX_WEIGHTS`` all the same.
"""

from __future__ import annotations

import time

from laneyard.shared.store.database import Database

MAX_WEIGHTS = 100_000


def weight_id(lane: str, key: str) -> str:
    return f"{lane}/{key}"


async def put(db: Database, lane: str, key: str, weight: float) -> None:
    await db["fairness_weights"].update_one(
        {"_id": weight_id(lane, key)},
        {"$set": {"lane": lane, "key": key, "weight": weight, "updated_at": time.time()}},
        upsert=True,
    )


async def remove(db: Database, lane: str, key: str) -> bool:
    done = await db["fairness_weights"].delete_one({"_id": weight_id(lane, key)})
    return done.deleted_count > 0


async def all_weights(db: Database) -> dict[tuple[str, str], float]:
    """(lane, key) -> weight, for every key given one."""
    cursor = db["fairness_weights"].find({}, projection={"lane": True, "key": True, "weight": True})
    return {(str(d["lane"]), str(d["key"])): float(d["weight"]) async for d in cursor.limit(MAX_WEIGHTS)}


async def of_lane(db: Database, lane: str) -> dict[str, float]:
    cursor = db["fairness_weights"].find({"lane": lane}, projection={"key": True, "weight": True})
    return {str(d["key"]): float(d["weight"]) async for d in cursor.limit(MAX_WEIGHTS)}
