"""The console's reads beyond the API's: each one a bounded query on an index, never a count
over the whole collection."""

from __future__ import annotations

from typing import Any

from pymongo import ASCENDING, DESCENDING

from laneyard.services.admission.console.throughput import MINUTES
from laneyard.services.admission.console.tree import MAX_NODES, child_ids
from laneyard.shared.states import JobState
from laneyard.shared.store.database import Database, Doc

# Ends read for the throughput chart: more than this in the window shows as a floor, not a stall.
MAX_ENDS = 20_000
_SUMMARY = {"task": True, "state": True, "children": True, "lane": True, "cluster": True}


async def oldest_queued(db: Database, lane: str, cluster: str) -> float | None:
    """When the oldest job still IN_QUEUE in the lane was submitted."""
    doc = await db["jobs"].find_one(
        {"state": str(JobState.IN_QUEUE), "lane": lane, "cluster": cluster},
        projection={"created_at": True},
        sort=[("created_at", ASCENDING)],
    )
    return float(doc["created_at"]) if doc and doc.get("created_at") is not None else None


async def recent_ends(db: Database, now: float, grant_filter: dict[str, Any]) -> list[tuple[str, float]]:
    query = {
        "state": {"$in": [str(JobState.COMPLETED), str(JobState.ERROR)]},
        "updated_at": {"$gte": now - MINUTES * 60},
        **grant_filter,
    }
    found = db["jobs"].find(query, projection={"state": True, "updated_at": True}).limit(MAX_ENDS)
    return [(str(d["state"]), float(d["updated_at"])) async for d in found]


async def descendants(db: Database, root: Doc) -> dict[str, Doc]:
    """The job's sub-tasks, theirs, and so on, read level by level by id."""
    found: dict[str, Doc] = {}
    level = child_ids(root)
    while level and len(found) < MAX_NODES:
        wanted = [cid for cid in level if cid not in found][: MAX_NODES - len(found)]
        docs = [d async for d in db["jobs"].find({"_id": {"$in": wanted}}, projection=_SUMMARY)]
        for d in docs:
            found[str(d["_id"])] = d
        level = [cid for d in docs for cid in child_ids(d)]
    return found


async def jobs_of_schedule(
    db: Database, schedule_id: str, grant_filter: dict[str, Any], limit: int
) -> list[Doc]:
    query = {"schedule_id": schedule_id, **grant_filter}
    found = db["jobs"].find(query, projection={"args": False}).sort([("created_at", DESCENDING)]).limit(limit)
    return [d async for d in found]
