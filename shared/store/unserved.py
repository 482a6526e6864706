"""Tasks that jobs wait for but no living runner of their cluster offers, or none is big enough for.

The dispatcher records a (cluster, task) pair when a job of it finds no runner, at most once every
few seconds per pair; ``GET /v1/status`` lists the recent pairs that are still unserved, so a job
that waits for a runner that does not exist is visible rather than silently delayed.
"""

from __future__ import annotations

import time

from laneyard.shared.store.database import Database, Doc


def pair_id(cluster: str, task: str) -> str:
    return f"{cluster}:{task}"


async def record(
    db: Database,
    cluster: str,
    task: str,
    now: float | None = None,
    *,
    reason: str = "",
    too_big: bool = False,
) -> None:
    """``too_big``: runners offer the task, but none could ever hold the job (its tier or slots)."""
    now = time.time() if now is None else now
    await db["unserved"].update_one(
        {"_id": pair_id(cluster, task)},
        {
            "$set": {
                "cluster": cluster,
                "task": task,
                "last_seen": now,
                "reason": reason,
                "too_big": too_big,
            },
            "$setOnInsert": {"since": now},
        },
        upsert=True,
    )


async def recent(db: Database, within: float, limit: int = 1000) -> list[Doc]:
    """Pairs seen in the last ``within`` seconds (the collection holds one document per pair)."""
    since = time.time() - within
    return [d async for d in db["unserved"].find({"last_seen": {"$gte": since}}).limit(limit)]
