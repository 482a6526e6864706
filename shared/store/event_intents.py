"""Event intents: one per state change, written before the change itself and settled into the
event log (``shared.store.event_log``) by admission's sequencer.

The intent is written first so that a crash between the state write and anything after it loses no
event: the sequencer finds the intent and checks the job's timeline to see whether the change
happened (``shared.event_sequencing``). A writer that knows its change did not happen deletes its
intent at once; one that died is covered by that check.

The key is the change's time, then the job, attempt and state: sorting by ``_id`` reads the oldest
first. The same change staged by two writers (admission and a dispatcher both recording one new
job) is two intents and one event (``shared.event_sequencing`` dedupes by change). A collection
of its own: it holds only changes not yet sequenced, so reading it is cheap on any server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import BulkWriteError

from laneyard.shared.states import JobState
from laneyard.shared.store.database import Database, Doc

COLLECTION = "event_intents"
DUPLICATE_KEY = 11000


def intent_key(job_id: str, attempt: int, state: JobState | str, at: float) -> str:
    # The random tail: each writer withdraws only its own intent, even of the same change.
    return f"{at:017.6f}|{job_id}|{attempt}|{state}|{secrets.token_hex(4)}"


def intent(
    job_id: str, attempt: int, state: JobState | str, at: float, fields: Mapping[str, Any] | None = None
) -> Doc:
    """The intent of one state change; ``fields`` are those the change sets (its runner, reason)."""
    fields = fields or {}
    return {
        "_id": intent_key(job_id, attempt, state, at),
        "job_id": job_id,
        "attempt": attempt,
        "state": str(state),
        "at": at,
        "runner": fields.get("runner"),
        "reason": fields.get("reason"),
    }


async def stage(db: Database, intents: list[Doc]) -> None:
    """Writes intents; one already there is the same change staged twice, which is fine."""
    if not intents:
        return
    try:
        await db[COLLECTION].insert_many(intents, ordered=False)
    except BulkWriteError as exc:
        if any(e.get("code") != DUPLICATE_KEY for e in exc.details.get("writeErrors", [])):
            raise


async def withdraw(db: Database, keys: Iterable[str]) -> None:
    """Drops the intents of changes that did not happen (or that are in the log)."""
    keys = list(keys)
    if keys:
        await db[COLLECTION].delete_many({"_id": {"$in": keys}})


async def oldest(db: Database, limit: int) -> list[Doc]:
    return await db[COLLECTION].find().sort("_id", 1).limit(limit).to_list()
