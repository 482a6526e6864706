"""The rate of every lane and cluster: settings, overridden at run time by the ``throttles`` collection.

Read through a short cache, so a rate changed through one replica holds on all of them within
``admission_cache_seconds`` without a database round trip per job.
"""

from __future__ import annotations

import asyncio
import time

from laneyard.shared.settings import Settings
from laneyard.shared.store import throttle
from laneyard.shared.store.database import Database
from laneyard.shared.throttling.window import parse_rates


class RateBook:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.ttl = settings.admission_cache_seconds
        self.configured: dict[str, dict[str, float]] = {
            "lane": parse_rates(settings.lane_rates),
            "cluster": parse_rates(settings.cluster_rates),
        }
        self._effective: dict[str, dict[str, float]] = {k: dict(v) for k, v in self.configured.items()}
        self._loaded_at = -1e18
        self._lock = asyncio.Lock()

    def invalidate(self) -> None:
        self._loaded_at = -1e18

    async def effective(self) -> dict[str, dict[str, float]]:
        if time.monotonic() - self._loaded_at >= self.ttl:
            async with self._lock:
                if time.monotonic() - self._loaded_at >= self.ttl:
                    merged = {k: dict(v) for k, v in self.configured.items()}
                    for doc in await throttle.all_rates(self.db):
                        if doc.get("kind") in merged:
                            merged[str(doc["kind"])][str(doc["name"])] = float(doc["rate"])
                    self._effective = merged
                    self._loaded_at = time.monotonic()
        return self._effective

    async def rates(self, lane: str, cluster: str) -> tuple[float | None, float | None]:
        eff = await self.effective()
        return eff["lane"].get(lane), eff["cluster"].get(cluster)

    async def limited(self, lane: str, cluster: str) -> bool:
        return await self.rates(lane, cluster) != (None, None)
