"""The event log: every job state change, numbered 1, 2, 3... without holes, kept for a window.

Only the sequencer holding the ``events`` lease appends (``append``), in order, so a number is
the same event whichever admission replica serves it, and "the events after N" is the set of
numbers N+1, N+2, ...: read by ``_id`` equality (``$in``), which every server indexes (the embedded
one scans for a range on ``_id``). A reader that finds N+2 but not yet N+1 stops at N.

Two sequencers racing (a lease holder that stalled past its lease) cannot both write number N: the
second insert fails on the duplicate key, and that one reloads the end of the log.
"""

from __future__ import annotations

from laneyard.shared.store.database import Database, Doc

COLLECTION = "events"
PRUNE_CHUNK = 1000


async def append(db: Database, events: list[Doc]) -> None:
    """Inserts events already numbered (``_id``), in order, stopping at the first that fails."""
    if events:
        await db[COLLECTION].insert_many(events, ordered=True)


async def after(db: Database, seq: int, limit: int) -> list[Doc]:
    """Events numbered ``seq + 1`` onwards, up to ``limit``, as far as they run without a hole."""
    found = {
        int(d["_id"]): d
        async for d in db[COLLECTION].find({"_id": {"$in": list(range(seq + 1, seq + 1 + limit))}})
    }
    run: list[Doc] = []
    for n in range(seq + 1, seq + 1 + limit):
        if n not in found:
            break
        run.append(found[n])
    return run


async def last(db: Database) -> Doc | None:
    return await db[COLLECTION].find_one({}, sort=[("_id", -1)])


async def first(db: Database) -> Doc | None:
    return await db[COLLECTION].find_one({}, sort=[("_id", 1)])


async def get(db: Database, seq: int) -> Doc | None:
    return await db[COLLECTION].find_one({"_id": seq})


async def first_at_or_after(db: Database, at: float) -> int | None:
    """The lowest number whose event happened at or after ``at`` (binary search by ``_id``); None
    if none did. Sequencing keeps times in order, to the clock skew between writers."""
    low_doc, high_doc = await first(db), await last(db)
    if low_doc is None or high_doc is None or float(high_doc["at"]) < at:
        return None
    low, high = int(low_doc["_id"]), int(high_doc["_id"])
    while low < high:
        mid = (low + high) // 2
        doc = await get(db, mid)
        if doc is not None and float(doc["at"]) < at:
            low = mid + 1
        else:
            high = mid
    return low


async def prune_before(db: Database, seq: int) -> int:
    """Deletes events numbered below ``seq``, by number (no range scan); returns how many."""
    oldest = await first(db)
    if oldest is None:
        return 0
    deleted = 0
    start = int(oldest["_id"])
    while start < seq:
        stop = min(seq, start + PRUNE_CHUNK)
        result = await db[COLLECTION].delete_many({"_id": {"$in": list(range(start, stop))}})
        deleted += result.deleted_count
        start = stop
    return deleted
