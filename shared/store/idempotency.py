"""Idempotency keys: the first submission with a key claims it; later ones get the first job back.

The claim is an insert keyed by ``_id``, so two admission replicas racing on one key cannot both
win, on MongoDB 7 or on nx-27017.
"""

from __future__ import annotations

import time

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from laneyard.shared.store.database import Database

# A claim whose job never got recorded (its admission died between claim and publish) is
# taken over after this long.
STALE_CLAIM_SECONDS = 30.0


async def claim(db: Database, key: str, job_id: str) -> tuple[str, bool]:
    """The job id that owns the key, and whether this call holds the key (and must submit it).

    A fresh claim owns the key with ``job_id``. A stale claim is taken over with the job id it
    already had: its submission may have published the job before its admission died (the job
    then exists as a message only, and the dispatcher records it when it gets there), and a new
    id would make that one job two. Under the same id both are one job, run once."""
    col = db["idempotency"]
    try:
        await col.insert_one({"_id": key, "job_id": job_id, "at": time.time()})
        return job_id, True
    except DuplicateKeyError:
        pass
    existing = await col.find_one({"_id": key})
    if existing is None:  # released in between; try once more
        return await claim(db, key, job_id)
    owner = str(existing["job_id"])
    if await db["jobs"].find_one({"_id": owner}, projection={"_id": True}) is not None:
        return owner, False
    if time.time() - float(existing["at"]) < STALE_CLAIM_SECONDS:
        return owner, False
    taken = await col.find_one_and_update(
        {"_id": key, "job_id": owner, "at": existing["at"]},
        {"$set": {"at": time.time()}},
        return_document=ReturnDocument.AFTER,
    )
    return (owner, True) if taken is not None else await claim(db, key, job_id)


async def release(db: Database, key: str, job_id: str) -> None:
    """Gives a key back when its job could not be published, so a retry is not told it is a duplicate."""
    await db["idempotency"].delete_one({"_id": key, "job_id": job_id})
