"""The last capacity report of every runner, for status pages and for dispatchers that start cold."""

from __future__ import annotations

import time

from laneyard.shared.models import CapacityReport
from laneyard.shared.store.database import Database, Doc


async def record(db: Database, report: CapacityReport) -> None:
    doc = report.model_dump(mode="json", exclude={"seen"})
    doc["last_seen"] = time.time()
    # nx-27017 gives an upserted replacement without _id a fresh ObjectId instead of the filter's _id,
    # which would add a document per report instead of replacing the runner's one.
    doc["_id"] = report.runner_id
    await db["runners"].replace_one({"_id": report.runner_id}, doc, upsert=True)


async def forget(db: Database, runner_id: str) -> None:
    await db["runners"].delete_one({"_id": runner_id})


async def alive(db: Database, max_age: float, cluster: str | None = None) -> list[Doc]:
    query: Doc = {"last_seen": {"$gte": time.time() - max_age}}
    if cluster is not None:
        query["cluster"] = cluster
    return [d async for d in db["runners"].find(query)]


async def is_alive(db: Database, runner_id: str, max_age: float) -> bool:
    doc = await db["runners"].find_one({"_id": runner_id}, projection={"last_seen": True})
    return doc is not None and float(doc.get("last_seen", 0)) >= time.time() - max_age


async def holds(db: Database, runner_id: str, job_id: str, max_age: float, since: float) -> bool | None:
    """Whether a living runner says it runs the job: True, False (it reported after ``since`` and
    does not list it), or None (gone, or no report since ``since`` to tell)."""
    doc = await db["runners"].find_one({"_id": runner_id}, projection={"last_seen": True, "running": True})
    if doc is None or float(doc.get("last_seen", 0)) < time.time() - max_age:
        return None
    if job_id in (doc.get("running") or {}):
        return True
    return False if float(doc.get("last_seen", 0)) > since else None
