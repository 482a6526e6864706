"""Deleting what expired, where the server's TTL indexes do not (``database.ttl_served``).

The same rule as a TTL index with ``expireAfterSeconds=0``: a document whose ``expire_at`` has
passed is deleted. Run by the dispatcher holding the lease, every ``LANEYARD_RETENTION_SWEEP_SECONDS``.
"""

from __future__ import annotations

from datetime import UTC, datetime

from laneyard.shared.store.database import EXPIRING, Database


async def sweep(db: Database, now: datetime | None = None) -> dict[str, int]:
    """Deletes the documents whose ``expire_at`` is before ``now``; how many, per collection."""
    cutoff = now or datetime.now(UTC)
    deleted: dict[str, int] = {}
    for name in EXPIRING:
        result = await db[name].delete_many({"expire_at": {"$lt": cutoff}})
        deleted[name] = result.deleted_count
    return deleted
