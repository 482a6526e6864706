"""Recovery of running jobs, driven by runner heartbeats in the database (on the lease holder).

A runner acks a job's message as soon as the job is RUNNING, so a job whose runner dies has no
message left in RabbitMQ: this loop is what brings it back. Each tick it
- takes the runners whose heartbeats lapsed and re-queues their jobs as the next attempt, or ends
  them ``runner lost`` when no retries are left (``shared.lifecycle.recover_lost``);
- ends jobs that live runners hold past their time limit plus a grace, or past their heartbeat
  timeout (``shared.lifecycle.overstay``);
- settles outbox intents a crash left behind, so a re-queued job always gets its message;
- now and then, looks for RUNNING jobs whose runner has no heartbeat record at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.metrics import dispatch as dispatch_metrics
from laneyard.shared.reasons import Reason
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import runners as runner_store
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.store.job_record import JobRecord

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
ORPHAN_SCAN_SECONDS = 30.0
MAX_PER_TICK = 1000  # jobs recovered per tick: a mass failure is worked off over a few ticks
NO_ARGS = {"args": False}


class Reaper:
    def __init__(self, bus: Bus, db: Database, settings: Settings, held: Callable[[], bool]) -> None:
        self.bus = bus
        self.db = db
        self.held = held
        self.heartbeat = settings.heartbeat_seconds
        self.runner_timeout = settings.heartbeat_seconds * settings.heartbeat_misses
        self.grace = settings.failover_grace_seconds
        self.republish_after = settings.outbox_republish_seconds
        self.give_up_after = 3 * settings.network_timeout
        self._orphans_at = time.monotonic()

    async def run(self, stop: asyncio.Event) -> None:
        """Ticks until ``stop``; its own loop, so a slow tick never delays the lease's renewal."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)
            try:
                await asyncio.wait_for(self.tick(), self.give_up_after)
            except Exception:
                log.exception("recovering running jobs failed; trying again")

    async def tick(self) -> None:
        if not self.held():
            return
        now = time.time()
        docs = [d async for d in self.db["runners"].find({}, projection={"last_seen": True, "running": True})]
        live = {str(d["_id"]): d for d in docs if float(d.get("last_seen") or 0) >= now - self.runner_timeout}
        for doc in docs:
            if str(doc["_id"]) not in live:
                await self._reap_runner(str(doc["_id"]))
        await self._expire_overstays(live, now)
        published = await lifecycle.sweep_outbox(
            self.db, self.bus, republish_after=self.republish_after, give_up_after=self.give_up_after
        )
        dispatch_metrics.MESSAGES_REPUBLISHED.inc(published)
        if time.monotonic() - self._orphans_at >= ORPHAN_SCAN_SECONDS:
            self._orphans_at = time.monotonic()
            await self._reap_orphans(live, now)

    async def _reap_runner(self, runner_id: str) -> None:
        query = {"state": str(JobState.RUNNING), "runner": runner_id}
        held = [d async for d in self.db["jobs"].find(query).limit(MAX_PER_TICK)]
        for doc in held:
            await self._recover(JobRecord.of(doc), runner_id)
        if len(held) < MAX_PER_TICK:
            await runner_store.forget(self.db, runner_id)
            log.warning("runner %s missed its heartbeats; %d of its jobs recovered", runner_id, len(held))

    async def _recover(self, job: JobRecord, holder: str) -> None:
        fate = await lifecycle.recover_lost(self.db, self.bus, job, holder)
        if fate is not None:
            dispatch_metrics.JOBS_REAPED.labels(str(Reason.RUNNER_LOST), str(fate)).inc()
            log.warning("runner %s lost mid-task: %s", holder, fate, extra={"job_id": job.id})

    async def _expire_overstays(self, live: dict[str, Doc], now: float) -> None:
        ids = [job_id for d in live.values() for job_id in (d.get("running") or {})][:MAX_PER_TICK]
        if not ids:
            return
        query = {"_id": {"$in": ids}, "state": str(JobState.RUNNING)}
        async for doc in self.db["jobs"].find(query, projection=NO_ARGS):
            job = JobRecord.of(doc)
            why = lifecycle.overstay(job, now, self.grace)
            if why is not None and await lifecycle.expire(self.db, job, why):
                dispatch_metrics.JOBS_REAPED.labels(str(why.reason), "fail").inc()
                log.warning("ended: %s", why.error, extra={"job_id": job.id})

    async def _reap_orphans(self, live: dict[str, Doc], now: float) -> None:
        """RUNNING jobs no live runner holds: their runner left no heartbeat record (it was reaped
        already, or a store lost it), or it is alive but reported since the job started without
        listing it (its handling of the job failed midway). They are recovered like a lost runner's."""
        query = {"state": str(JobState.RUNNING)}
        found = 0
        async for doc in self.db["jobs"].find(query):
            job = JobRecord.of(doc)
            holder = str(job.runner)
            started = job.entered(JobState.RUNNING) or now
            runner = live.get(holder)
            if runner is not None:
                reported_since = float(runner.get("last_seen") or 0) > started + self.heartbeat
                if job.id in (runner.get("running") or {}) or not reported_since:
                    continue
            elif now - started < self.runner_timeout:
                continue
            await self._recover(job, holder)
            found += 1
            if found >= MAX_PER_TICK:
                break
