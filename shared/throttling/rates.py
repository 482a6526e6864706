"""The rate of every lane, cluster and job key: settings, overridden at run time by the ``throttles``
collection.

Read through a short cache, so a rate changed through one replica holds on all of them within
``admission_cache_seconds`` without a database round trip per job.
"""

from __future__ import annotations

import asyncio
import time

from laneyard.shared.settings import Settings
from laneyard.shared.store import throttle
from laneyard.shared.store.database import Database
from laneyard.shared.throttling import key_rates
from laneyard.shared.throttling.window import parse_rates


class RateBook:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.ttl = settings.admission_cache_seconds
        self.configured: dict[str, dict[str, float]] = {
            "lane": parse_rates(settings.lane_rates),
            "cluster": parse_rates(settings.cluster_rates),
            "key": dict(key_rates.check_names(parse_rates(settings.key_rates))),
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

    async def intake_for(
        self, lane: str, cluster: str, keys: tuple[str | None, ...]
    ) -> tuple[bool, str | None]:
        """Whether a job of the lane with these keys goes through an intake queue, and the rated key
        whose intake it is (None: the lane's own)."""
        eff = await self.effective()
        key = key_rates.rated_key(keys, eff["key"])
        return key is not None or lane in eff["lane"] or cluster in eff["cluster"], key

    async def limits(self, lane: str, cluster: str, key: str | None = None) -> list[tuple[str, float]]:
        """The counters (``throttle.rate_id``) a job moved from the intake takes a token from, with
        their rates; empty when none applies any more."""
        eff = await self.effective()
        found: list[tuple[str, float]] = []
        if key is not None:
            rate = key_rates.rate_for(key, eff["key"])
            if rate is not None:
                found.append((throttle.rate_id("key", key), rate))
        if lane in eff["lane"]:
            found.append((throttle.rate_id("lane", lane), eff["lane"][lane]))
        if cluster in eff["cluster"]:
            found.append((throttle.rate_id("cluster", cluster), eff["cluster"][cluster]))
        return found
