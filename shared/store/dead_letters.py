"""Messages no service could process, with the reason, so none is ever silently dropped."""

from __future__ import annotations

import time
import uuid

from shared.store.database import Database, Doc

MAX_BODY = 64 * 1024


async def record(db: Database, *, source: str, reason: str, body: bytes, job_id: str | None = None) -> str:
    dead_id = uuid.uuid4().hex
    text = body[:MAX_BODY].decode("utf-8", errors="replace")
    await db["dead_letters"].insert_one(
        {
            "_id": dead_id,
            "job_id": job_id,
            "source": source,
            "reason": reason,
            "body": text,
            "body_truncated": len(body) > MAX_BODY,
            "at": time.time(),
        }
    )
    return dead_id


async def get(db: Database, dead_id: str) -> Doc | None:
    return await db["dead_letters"].find_one({"_id": dead_id})


async def recent(db: Database, limit: int = 100) -> list[Doc]:
    return [d async for d in db["dead_letters"].find().sort("at", -1).limit(limit)]
