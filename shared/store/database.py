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
    await db["outbox"].create_index([("at", ASCENDING)])
    await db["dead_letters"].create_index([("at", DESCENDING)])
    await db["runners"].create_index([("cluster", ASCENDING)])
