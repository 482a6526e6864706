"""Listing jobs: filtered, newest first, paged by an opaque cursor (created_at and id of the last one)."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING

from laneyard.shared.store.database import Database, Doc
from laneyard.shared.store.paging import decode_cursor, encode_cursor

MAX_LIMIT = 500


def build_filter(
    *,
    state: str | None = None,
    lane: str | None = None,
    cluster: str | None = None,
    labels: dict[str, str] | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if state is not None:
        query["state"] = state
    if lane is not None:
        query["lane"] = lane
    if cluster is not None:
        query["cluster"] = cluster
    for key, value in (labels or {}).items():
        query[f"labels.{key}"] = value
    if cursor is not None:
        at, job_id = decode_cursor(cursor)
        # Ties on created_at are broken by _id, the second sort key, so no job is skipped or repeated.
        query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": job_id}}]
    return query


async def find(
    db: Database, query: dict[str, Any], limit: int, skip: int = 0
) -> tuple[list[Doc], str | None]:
    """Up to ``limit`` jobs (without their args) and the cursor of the next page, if there may be one."""
    limit = max(1, min(limit, MAX_LIMIT))
    found = db["jobs"].find(query, projection={"args": False})
    found = found.sort([("created_at", DESCENDING), ("_id", DESCENDING)]).skip(skip).limit(limit + 1)
    docs = [d async for d in found]
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (encode_cursor(docs[-1], "created_at") if more and docs else None)
