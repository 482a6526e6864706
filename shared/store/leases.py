"""A lease in MongoDB: one holder at a time, renewed before it expires, taken over after.

The holder trusts its lease only until ``ttl - margin`` after the start of its last successful
renewal (measured on its own monotonic clock), so a holder that stalls stops acting before another
process can take over.
"""

from __future__ import annotations

import time

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from laneyard.shared.store.database import Database


class Lease:
    def __init__(self, db: Database, name: str, holder: str, ttl: float = 5.0, margin: float = 1.0) -> None:
        self.db = db
        self.name = name
        self.holder = holder
        self.ttl = ttl
        self.margin = margin
        self._valid_until = 0.0

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    async def renew(self) -> bool:
        """Acquire or renew; True while held. Never raises for a lost race, only for I/O errors."""
        started = time.monotonic()
        now = time.time()
        col = self.db["leases"]
        fields = {"$set": {"holder": self.holder, "expires_at": now + self.ttl, "renewed_at": now}}
        doc = None
        # Renew, else take over an expired lease: two plain conditional updates rather than one
        # with an $or, which nx-27017 matches against every lease, not just this one's _id.
        for condition in ({"holder": self.holder}, {"expires_at": {"$lt": now}}):
            doc = await col.find_one_and_update(
                {"_id": self.name, **condition}, fields, return_document=ReturnDocument.AFTER
            )
            if doc is not None:
                break
        if doc is None:
            try:
                await col.insert_one(
                    {"_id": self.name, "holder": self.holder, "expires_at": now + self.ttl, "renewed_at": now}
                )
            except DuplicateKeyError:
                self._valid_until = 0.0
                return False
        self._valid_until = started + self.ttl - self.margin
        return True

    async def release(self) -> None:
        self._valid_until = 0.0
        await self.db["leases"].update_one(
            {"_id": self.name, "holder": self.holder}, {"$set": {"expires_at": 0.0}}
        )

    async def current_holder(self) -> str | None:
        doc = await self.db["leases"].find_one({"_id": self.name})
        if doc is None or float(doc.get("expires_at", 0)) < time.time():
            return None
        return str(doc["holder"])
