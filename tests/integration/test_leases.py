"""Leases in the real store: one holder at a time, per lease name."""

from __future__ import annotations

import asyncio

from laneyard.shared.store.database import Database
from laneyard.shared.store.leases import Lease


async def test_taking_one_lease_never_touches_another_that_expired(db: Database) -> None:
    dispatcher = Lease(db, "dispatcher", "d1", ttl=0.2, margin=0.0)
    events = Lease(db, "events", "a1", ttl=30.0)
    assert await dispatcher.renew() and await events.renew()
    await asyncio.sleep(0.3)  # the dispatcher lease lapses
    other = Lease(db, "events", "a2", ttl=30.0)
    assert not await other.renew()  # events is still a1's
    assert await events.renew()
    assert await dispatcher.current_holder() is None  # expired, and still d1's document
    doc = await db["leases"].find_one({"_id": "dispatcher"})
    assert doc is not None and doc["holder"] == "d1"
    standby = Lease(db, "dispatcher", "d2", ttl=30.0)
    assert await standby.renew() and await dispatcher.current_holder() == "d2"
    assert await events.current_holder() == "a1"
