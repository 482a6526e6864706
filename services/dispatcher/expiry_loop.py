"""Retention on a server whose TTL indexes the services cannot rely on (nx-27017): the dispatcher
holding the lease deletes expired jobs, log chunks, dead letters and webhook deliveries every
``LANEYARD_RETENTION_SWEEP_SECONDS``. On MongoDB its TTL indexes do it and this loop only waits."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from laneyard.shared.settings import Settings
from laneyard.shared.store import expiry
from laneyard.shared.store.database import Database, ttl_served

log = logging.getLogger(__name__)


class ExpiryLoop:
    def __init__(self, db: Database, settings: Settings, held: Callable[[], bool]) -> None:
        self.db = db
        self.held = held
        self.every = settings.retention_sweep_seconds
        self.timeout = 30 * settings.network_timeout  # a scan of a large collection on nx-27017

    async def run(self, stop: asyncio.Event) -> None:
        with contextlib.suppress(Exception):
            if await asyncio.wait_for(ttl_served(self.db), self.timeout):
                return
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
            if stop.is_set() or not self.held():
                continue
            try:
                deleted = await asyncio.wait_for(expiry.sweep(self.db), self.timeout)
                if any(deleted.values()):
                    log.info("deleted expired documents: %s", deleted)
            except Exception:
                log.exception("deleting expired documents failed; trying again next sweep")
