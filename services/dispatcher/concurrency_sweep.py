"""The lease holder's periodic pass over concurrency keys (``LANEYARD_CONCURRENCY_SWEEP_SECONDS``).

- Every key marked parked in the database gets its parked jobs moved back while it has free slots,
  whichever dispatcher parked them (after a lease handover the new holder has not parked any).
- Now and then, keys that parked jobs before but are not marked now get their park queue's depth
  read: a dispatcher killed between parking a job and marking its key would otherwise strand it.
- Slots whose job neither waits nor runs any more are freed: a dispatcher that died between taking
  a slot and marking its job WAITING, or a release that failed, would otherwise keep a slot forever.
  Only holders taken longer ago than ``stale_after`` count (taking a slot and marking the job WAITING
  are milliseconds apart), and only if not taken again since the sweep looked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from laneyard.services.dispatcher.concurrency_gate import MAX_REMEMBERED_KEYS, ConcurrencyGate
from laneyard.shared.states import JobState
from laneyard.shared.store import concurrency_slots
from laneyard.shared.store.database import Database

log = logging.getLogger(__name__)

HOLDING = frozenset({str(JobState.WAITING), str(JobState.RUNNING)})
MAX_HOLDERS_PER_READ = 1000
RECHECK_EVERY_TICKS = 6  # park queues of unmarked keys are looked at every this many sweeps


def stale_holders(
    holders: dict[str, float], states: dict[str, str], now: float, stale_after: float
) -> dict[str, float]:
    """The holders (job id -> taken at) whose job is neither WAITING nor RUNNING (or gone), taken
    longer than ``stale_after`` seconds ago."""
    return {
        job_id: taken_at
        for job_id, taken_at in holders.items()
        if states.get(job_id) not in HOLDING and now - taken_at > stale_after
    }


class ConcurrencySweep:
    def __init__(
        self, gate: ConcurrencyGate, db: Database, every: float, timeout: float, held: Callable[[], bool]
    ) -> None:
        self.gate = gate
        self.db = db
        self.every = every
        self.timeout = timeout
        self.held = held
        self.stale_after = 3 * every
        self._ticks = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Its own loop, so a slow pass never delays the lease's renewal."""
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.every)
            try:
                await asyncio.wait_for(self.tick(), 3 * self.timeout)
            except Exception:
                log.exception("the concurrency key sweep failed; trying again")

    async def tick(self) -> None:
        if not self.held():
            return
        await self.gate.refresh()
        for slots in await concurrency_slots.parked_keys(self.db):
            if len(self.gate.parked) < MAX_REMEMBERED_KEYS:
                self.gate.parked.add(slots.key)  # later wakes on this dispatcher move them promptly
            await self.gate.move_back(slots.key, slots)
        await free_stale(self.db, time.time(), self.stale_after)
        self._ticks += 1
        if self._ticks % RECHECK_EVERY_TICKS == 0:
            await self.recheck_unmarked()

    async def recheck_unmarked(self) -> int:
        """Keys that parked jobs once but are not marked now, whose park queue holds jobs all the
        same: a dispatcher that died between parking a job and marking it. Marked again, so the
        next wake or sweep moves them. Returns how many keys it marked."""
        marked = 0
        for slots in await concurrency_slots.everything(self.db):
            if slots.parked or slots.park_seq == 0:
                continue  # marked already, or never parked: its queue may not exist
            queue = await self.gate.bus.topology.park_queue(slots.key)
            # Declaring again with the same arguments answers with the queue's depth.
            ok = await asyncio.wait_for(queue.declare(), self.timeout)
            if int(ok.message_count or 0) > 0:
                await concurrency_slots.mark_parked(self.db, slots.key)
                marked += 1
                log.warning("concurrency key %s had parked jobs without its mark", slots.key)
        return marked


async def free_stale(db: Database, now: float, stale_after: float) -> int:
    """Frees the slots ``stale_holders`` names, of every key; returns how many it freed."""
    freed = 0
    for slots in await concurrency_slots.everything(db):
        old = {j: t for j, t in slots.holders.items() if now - t > stale_after}
        ids = list(old)[:MAX_HOLDERS_PER_READ]
        if not ids:
            continue
        cursor = db["jobs"].find({"_id": {"$in": ids}}, projection={"state": True})
        states = {str(d["_id"]): str(d.get("state")) async for d in cursor}
        for job_id, taken_at in stale_holders({j: old[j] for j in ids}, states, now, stale_after).items():
            if await concurrency_slots.free_stale(db, slots.key, job_id, taken_at):
                freed += 1
                log.warning(
                    "freed a slot of concurrency key %s its job no longer used (%s)",
                    slots.key, states.get(job_id, "gone"), extra={"job_id": job_id},
                )  # fmt: skip
    return freed
