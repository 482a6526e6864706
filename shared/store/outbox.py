"""Intents to publish a job message, written before the state change that needs the message.

Re-queueing a job is a state change (RUNNING -> IN_QUEUE) and a publish, and no database write and
broker publish can be one atomic step. So the intent, holding the message, is written first; then
the state changes; then the message is published; then the intent is dropped. A crash anywhere in
between leaves an intent behind, and the sweeper (``shared.lifecycle.sweep_outbox``) settles it:
the job is in the state the intent expected, so the message is published again (a duplicate is
harmless, every transition being conditional), or it is not, so the intent is dropped.

A collection of its own rather than a mark on the job document: it holds only intents in flight,
so sweeping it is cheap on any server, where a mark on jobs would need a scan of every job on
servers that index only ``_id``.
"""

from __future__ import annotations

import time
from typing import Any

from laneyard.shared.models import JobMessage
from laneyard.shared.store.database import Database, Doc

COLLECTION = "outbox"
MAX_SWEEP = 500  # intents settled per sweep; the rest wait for the next one


def intent_id(job_id: str, attempt: int) -> str:
    return f"{job_id}:{attempt}"


async def write(db: Database, job: JobMessage, *, delay_ms: float, expect: dict[str, Any]) -> str:
    """Records that ``job`` (in the attempt it carries) is to be published once ``expect`` (fields of
    the job document, e.g. its state) holds; returns the intent's id."""
    key = intent_id(job.id, job.attempt)
    doc = {
        "_id": key,
        "job_id": job.id,
        "body": job.model_dump_json(),
        "delay_ms": delay_ms,
        "expect": expect,
        "at": time.time(),
    }
    await db[COLLECTION].replace_one({"_id": key}, doc, upsert=True)
    return key


async def drop(db: Database, key: str) -> None:
    await db[COLLECTION].delete_one({"_id": key})


async def older_than(db: Database, age: float) -> list[Doc]:
    cutoff = time.time() - age
    return [d async for d in db[COLLECTION].find({"at": {"$lt": cutoff}}).limit(MAX_SWEEP)]
