"""Keeps the lane consumers in line with the pauses stored in MongoDB.

Read on every housekeeping tick at most every ``REFRESH_SECONDS``, and at once when admission
announces a change on the control exchange: a missed notice costs a few seconds, never a pause.
"""

from __future__ import annotations

import asyncio
import logging
import time

from laneyard.services.dispatcher.lane_consumers import LaneConsumers
from laneyard.shared.metrics import dispatch as dispatch_metrics
from laneyard.shared.pausing import Pauses
from laneyard.shared.store import pauses as pause_store
from laneyard.shared.store.database import Database

log = logging.getLogger(__name__)

REFRESH_SECONDS = 2.0


class PauseWatch:
    def __init__(self, db: Database, timeout: float) -> None:
        self.db = db
        self.timeout = timeout
        self.read_at = -1e18
        self._lock = asyncio.Lock()

    async def refresh(self, lanes: LaneConsumers, *, now: bool = False) -> None:
        """Reads the pauses if due (or ``now``) and applies them; concurrent calls read once."""
        if not now and time.monotonic() - self.read_at < REFRESH_SECONDS:
            return
        async with self._lock:
            if not now and time.monotonic() - self.read_at < REFRESH_SECONDS:
                return
            found = await asyncio.wait_for(pause_store.load(self.db), self.timeout)
            self.read_at = time.monotonic()
            if found != lanes.pauses:
                log.info("pauses now: %s", ", ".join(p.id for p in found.items) or "none")
            await lanes.set_pauses(found)
            self.observe(found, lanes)

    @staticmethod
    def observe(found: Pauses, lanes: LaneConsumers) -> None:
        for cluster, lane in list(lanes.consumers):
            dispatch_metrics.LANE_PAUSED.labels(lane, cluster).set(1 if found.holds(lane, cluster) else 0)
        for cluster in {c for c, _ in lanes.consumers} | {p.cluster for p in found.items if p.cluster}:
            dispatch_metrics.CLUSTER_PAUSED.labels(cluster).set(1 if found.cluster_paused(cluster) else 0)
