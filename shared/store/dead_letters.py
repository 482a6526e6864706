"""Messages no service could process, with the reason, so none is ever silently dropped.

A dead letter can be replayed once: ``claim_replay`` names the job that replaces it before that job
is admitted, so two replays racing (or a retried request) end up with the same job.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from pymongo import DESCENDING, ReturnDocument

from laneyard.shared import retention
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.store.paging import decode_cursor, encode_cursor

MAX_BODY = 64 * 1024
MAX_LIMIT = 500


def new_dead_id() -> str:
    return uuid.uuid4().hex


def origin(body: bytes) -> tuple[str | None, str | None]:
    """The lane and cluster a body names, as far as it can be read (a submission left them out:
    the defaults), so a key limited to lanes and clusters finds its own dead letters."""
    if len(body) > MAX_BODY:
        return None, None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return None, None
    if not isinstance(data, dict):
        return None, None
    lane, cluster = data.get("lane", "main"), data.get("cluster", "default")
    return (lane if isinstance(lane, str) else None), (cluster if isinstance(cluster, str) else None)


async def record(
    db: Database,
    *,
    source: str,
    reason: str,
    body: bytes,
    job_id: str | None = None,
    dead_id: str | None = None,
    keep_days: float | None = None,
) -> str:
    """Stores a dead letter, deleted ``keep_days`` (LANEYARD_DEAD_LETTER_RETENTION_DAYS) later."""
    dead_id = dead_id or new_dead_id()
    now = time.time()
    text = body[:MAX_BODY].decode("utf-8", errors="replace")
    lane, cluster = origin(body)
    await db["dead_letters"].insert_one(
        {
            "_id": dead_id,
            "job_id": job_id,
            "lane": lane,
            "cluster": cluster,
            "source": source,
            "reason": reason,
            "body": text,
            "body_truncated": len(body) > MAX_BODY,
            "at": now,
            "expire_at": retention.expire_at(now, keep_days),
        }
    )
    return dead_id


async def forget(db: Database, dead_id: str) -> None:
    """Withdraws a record whose failure did not happen after all (the job had moved on)."""
    await db["dead_letters"].delete_one({"_id": dead_id})


async def get(db: Database, dead_id: str) -> Doc | None:
    return await db["dead_letters"].find_one({"_id": dead_id})


async def recent(db: Database, limit: int = 100) -> list[Doc]:
    return [d async for d in db["dead_letters"].find().sort("at", -1).limit(limit)]


async def page(
    db: Database,
    *,
    source: str | None = None,
    cursor: str | None = None,
    limit: int = 100,
    skip: int = 0,
    where: dict[str, Any] | None = None,
) -> tuple[list[Doc], str | None]:
    """Newest first; up to ``limit`` records (without bodies) and the cursor of the next page.
    ``where`` narrows the records further (e.g. to some lanes)."""
    limit = max(1, min(limit, MAX_LIMIT))
    query: dict[str, Any] = dict(where or {})
    if source is not None:
        query["source"] = source
    if cursor is not None:
        at, dead_id = decode_cursor(cursor)
        # Ties on ``at`` are broken by _id, the second sort key, so nothing is skipped or repeated.
        query["$or"] = [{"at": {"$lt": at}}, {"at": at, "_id": {"$lt": dead_id}}]
    found = db["dead_letters"].find(query, projection={"body": False})
    found = found.sort([("at", DESCENDING), ("_id", DESCENDING)]).skip(skip).limit(limit + 1)
    docs = [d async for d in found]
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (encode_cursor(docs[-1], "at") if more and docs else None)


async def claim_replay(db: Database, dead_id: str, job_id: str) -> str | None:
    """Names ``job_id`` as the replay of the dead letter; returns the job id that holds the claim
    (``job_id`` if this call won), or None if there is no such dead letter."""
    for _ in range(3):  # a claim released between our two reads is simply tried again
        won = await db["dead_letters"].find_one_and_update(
            {"_id": dead_id, "replay_job_id": None},
            {"$set": {"replay_job_id": job_id, "replayed_at": time.time()}},
            projection={"replay_job_id": True},
            return_document=ReturnDocument.AFTER,
        )
        if won is not None:
            return job_id
        doc = await db["dead_letters"].find_one({"_id": dead_id}, projection={"replay_job_id": True})
        if doc is None:
            return None
        if doc.get("replay_job_id"):
            return str(doc["replay_job_id"])
    raise RuntimeError(f"dead letter {dead_id} kept changing while being replayed")


async def release_replay(db: Database, dead_id: str, job_id: str) -> None:
    """Gives the claim up after the replay was refused, so it can be tried again."""
    await db["dead_letters"].update_one(
        {"_id": dead_id, "replay_job_id": job_id}, {"$set": {"replay_job_id": None, "replayed_at": None}}
    )
