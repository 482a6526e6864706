"""Connecting to MongoDB and creating the indexes every service relies on."""

from __future__ import annotations

import logging
from typing import Any

from pymongo import ASCENDING, DESCENDING, AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from laneyard.shared.settings import Settings

log = logging.getLogger(__name__)

Doc = dict[str, Any]
Database = AsyncDatabase[Doc]


def connect(settings: Settings, db_name: str | None = None) -> tuple[AsyncMongoClient[Doc], Database]:
    ms = int(settings.network_timeout * 1000)
    client: AsyncMongoClient[Doc] = AsyncMongoClient(
        settings.mongo_url,
        # timeoutMS bounds every operation, so no await on the database can hang forever.
        timeoutMS=ms,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        appname="laneyard",
    )
    return client, client[db_name or settings.mongo_db]


async def ensure_indexes(db: Database) -> None:
    """Idempotent; index names are never relied on (they differ between servers)."""
    jobs = db["jobs"]
    await jobs.create_index([("state", ASCENDING), ("lane", ASCENDING), ("cluster", ASCENDING)])
    await jobs.create_index([("cluster", ASCENDING), ("state", ASCENDING)])
    await jobs.create_index([("created_at", DESCENDING)])
    # The reaper's look-up of the jobs a lost runner held.
    await jobs.create_index([("state", ASCENDING), ("runner", ASCENDING)])
    # The console's lists and overview (services/admission/console): newest first by task or
    # schedule, a lane's oldest queued job, and the jobs that ended in the last minutes.
    await jobs.create_index([("task", ASCENDING), ("created_at", DESCENDING)])
    await jobs.create_index([("schedule_id", ASCENDING), ("created_at", DESCENDING)])
    await jobs.create_index(
        [("state", ASCENDING), ("lane", ASCENDING), ("cluster", ASCENDING), ("created_at", ASCENDING)]
    )
    await jobs.create_index([("state", ASCENDING), ("updated_at", DESCENDING)])
    await db["outbox"].create_index([("at", ASCENDING)])
    # Completion webhooks (shared.store.webhooks): ended jobs marked for the crash sweep, and the
    # sender's look-up of due deliveries.
    await jobs.create_index([("webhook_due", ASCENDING)], sparse=True)
    await db["webhook_deliveries"].create_index([("state", ASCENDING), ("next_at", ASCENDING)])
    await db["webhook_deliveries"].create_index([("job_id", ASCENDING)])
    await db["dead_letters"].create_index([("at", DESCENDING)])
    await db["runners"].create_index([("cluster", ASCENDING)])
    if await ttl_served(db):
        for name in EXPIRING:
            # The date in expire_at is the deletion time itself (shared.retention).
            await db[name].create_index([("expire_at", ASCENDING)], expireAfterSeconds=0)


# Collections whose documents carry ``expire_at`` once they may be deleted.
EXPIRING = ("jobs", "logs", "dead_letters", "webhook_deliveries")


async def ttl_served(db: Database) -> bool:
    """Whether the server's TTL indexes can do the expiry. nx-27017 has them, but purges on every
    read of the collection (a scan per find: 0.9 ms -> 8 ms a find_one at 10,000 jobs, measured), so
    there the lease holder deletes expired documents itself, now and then (shared.store.expiry)."""
    info = await db.command("buildInfo")
    return info.get("process") != "nx_27017"
