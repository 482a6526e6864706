"""The dispatch decision for one lane message: forward it to its cluster, or delay it.

The fit check and the reservation run before the first ``await``, so jobs are admitted to
capacity in the order RabbitMQ delivers them (priority, then arrival) even though their database
writes and publishes overlap.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from laneyard.services.dispatcher.capacity import ClusterCapacity, Decision
from laneyard.services.dispatcher.concurrency_gate import ConcurrencyGate
from laneyard.services.dispatcher.fairness import over_share, parse_weights
from laneyard.services.dispatcher.lane_consumers import LaneConsumers
from laneyard.services.dispatcher.queue_age import QueueAges
from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.metrics import dispatch as dispatch_metrics
from laneyard.shared.metrics import states as state_metrics
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import dead_letters, job_record, jobs, unserved
from laneyard.shared.store.concurrency_slots import Took
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites
from laneyard.shared.store.leases import Lease
from laneyard.shared.tiers import request_of

log = logging.getLogger(__name__)

MARK_TRIES = 5
OVER_SHARE = "over_share"
PARKED = "concurrency_key"  # held back: no free slot of its concurrency key
UNSERVED_NOTE_SECONDS = 5.0
HELD_RECENT_SECONDS = 3.0
# A job that does not fit steps aside (through the delay queues) only if a smaller job was seen in
# its lane this recently: stepping aside lets such jobs by, and otherwise only adds the delay.
SMALLER_SEEN_SECONDS = 5.0


def step_aside_ms(decision: Decision, delays: int, min_ms: int, max_ms: int, room_max_ms: int) -> float:
    """How long a job that cannot go now waits in the delay queues: doubling from ``min_ms``, up to
    ``max_ms`` when it waits for a runner that may never come, but only up to ``room_max_ms`` when
    it waits for room, which frees up as soon as running jobs end."""
    cap = min(room_max_ms, max_ms) if decision in (Decision.NO_ROOM, Decision.RESERVED) else max_ms
    return float(min(min_ms * 2**delays, cap))


def header_ms(message: AbstractIncomingMessage, name: str) -> float | None:
    """A time carried in a header as integer milliseconds since the epoch, in seconds.

    Integers because AMQP field tables carry a Python float as a 32-bit float: an epoch time would
    come back up to a minute off (that once kept reservations from ever being made)."""
    value = (message.headers or {}).get(name)
    return value / 1000 if isinstance(value, int) else None


class Dispatch:
    def __init__(self, bus: Bus, db: Database, settings: Settings, lease: Lease) -> None:
        self.bus = bus
        self.db = db
        self.lease = lease
        self.writes = JobWrites(db, timeout=settings.network_timeout)
        self.gate = ConcurrencyGate(bus, db, settings, lambda: lease.held)
        self.clusters: defaultdict[str, ClusterCapacity] = defaultdict(
            lambda: ClusterCapacity(settings.capacity_threshold)
        )
        self.lanes: LaneConsumers | None = None
        self.min_ms = settings.delay_min_ms
        self.max_ms = settings.delay_max_ms
        self.room_max_ms = settings.delay_room_max_ms
        self.reservation_after = settings.reservation_after_seconds
        self.weights = parse_weights(settings.lane_weights)
        # (cluster, lane) -> messages waiting in the lane queue, and when a job of it last could not go
        self.depth: dict[tuple[str, str], int] = {}
        self.blocked_at: dict[tuple[str, str], float] = {}
        self.unserved_noted: dict[tuple[str, str], float] = {}  # (cluster, task) -> last noted
        self.ages = QueueAges()  # how long each lane's longest-waiting job has been queued
        # (cluster, lane) -> {(cpu, memory, slots) of a job seen there: when last seen}, bounded
        self.sizes_seen: dict[tuple[str, str], dict[tuple[int, int, int], float]] = {}

    def lanes_with_work(self, cluster: str, now: float) -> set[str]:
        # The measured depth misses what sits in this dispatcher's prefetch window or in the delay
        # queues, so a lane whose job was held back in the last few seconds counts as having work.
        recent = HELD_RECENT_SECONDS
        return {
            lane
            for (c, lane) in set(self.depth) | set(self.blocked_at)
            if c == cluster
            and (self.depth.get((c, lane), 0) > 0 or now - self.blocked_at.get((c, lane), -1e9) < recent)
        }

    def is_over_share(self, cluster: str, lane: str, now: float) -> bool:
        capacity = self.clusters[cluster]
        others = self.lanes_with_work(cluster, now) - {lane}
        return over_share(lane, capacity.usage_by_lane(), others, self.weights, capacity.totals())

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        try:
            await self._handle(message)
        except Exception:
            # Broker or database trouble: the message goes back to its lane rather than being lost.
            log.exception("dispatching a message failed; requeued", extra={"job_id": message.message_id})
            await message.nack(requeue=True)

    async def _handle(self, message: AbstractIncomingMessage) -> None:
        if not self.lease.held:
            # Prefetched before the lease was lost: the new holder will dispatch it.
            await message.nack(requeue=True)
            return
        try:
            job = JobMessage.model_validate_json(message.body)
        except ValidationError as exc:
            await self._dead_letter(message, f"undecodable job message: {exc.errors()[:3]}")
            return

        if self.lanes is not None and self.lanes.pauses.holds(job.lane, job.cluster):
            # Prefetched before the pause took hold: back to its place, the lane's consumer is going.
            await message.nack(requeue=True)
            return

        now = time.time()
        self.ages.received(job, now)
        self._saw_size(job, now)
        if job.not_before is not None and job.not_before > now + 0.005:
            await self.bus.delayed(job, (job.not_before - now) * 1000)
            await message.ack()
            return

        capacity = self.clusters[job.cluster]
        decision, runner_id = capacity.decide(
            job.tier, job.task, priority=job.priority, job_id=job.id, slots=job.slots
        )
        reason = str(decision)
        if decision is Decision.FIT and self.is_over_share(job.cluster, job.lane, now):
            reason = OVER_SHARE
        elif decision is Decision.FIT and runner_id is not None:
            capacity.reserve(job.id, job.tier, runner_id, now, job.lane, job.slots)
            limit = self.gate.limit_of(job.concurrency_key)
            if self.lanes is not None and limit is None:
                self.lanes.started(job.cluster, job.lane, job.fairness_key)
            took = Took.HELD
            try:
                if limit is not None:
                    # After the fit check: the order of capacity decisions stays the delivery order.
                    took = await self.gate.take(job, limit)
                    if took is Took.FULL:
                        capacity.release(job.id)
                        await self._park(job, message)
                        return
                    if self.lanes is not None:
                        self.lanes.started(job.cluster, job.lane, job.fairness_key)
                if await self._mark_waiting(job):
                    await self.bus.to_cluster(job, headers=state_metrics.forwarded_headers())
                    dispatch_metrics.forwarded(job, self.ages.forwarded(job, time.time()))
                else:
                    capacity.release(job.id)
                    if took is Took.NEW:
                        # A stale message: the slot was taken for nothing. One held already stays,
                        # it may be the running job's (a duplicate message of it).
                        await self.gate.give_back(job)
            except Exception:
                # A slot taken stays: the message comes back and takes it again (Took.HELD), and
                # the sweep frees it if its job never waits or runs.
                capacity.release(job.id)
                raise
            await message.ack()
            return
        await self._hold_back(job, message, capacity, decision, reason, now)

    async def _park(self, job: JobMessage, message: AbstractIncomingMessage) -> None:
        """No free slot of its concurrency key: it waits in the key's park queue, holding no capacity
        and not cycling, until a slot frees (``concurrency_gate.py``). Not a held-back job of its
        lane's queue age: it has left the lane."""
        dispatch_metrics.JOBS_HELD_BACK.labels(job.lane, job.cluster, PARKED).inc()
        await self.gate.park(job, message)
        await message.ack()

    async def _hold_back(
        self,
        job: JobMessage,
        message: AbstractIncomingMessage,
        capacity: ClusterCapacity,
        decision: Decision,
        reason: str,
        now: float,
    ) -> None:
        key = (job.cluster, job.lane)
        self.ages.held_back(job, now)
        dispatch_metrics.JOBS_HELD_BACK.labels(job.lane, job.cluster, reason).inc()
        if decision not in (Decision.NO_RUNNER, Decision.TOO_BIG):
            self.blocked_at[key] = now
        if log.isEnabledFor(logging.DEBUG):
            t = capacity.totals()
            log.debug(
                "held back (%s) %s p%d%s: cluster cpu %d/%d mem %d/%d slots %d/%d, %d in flight, %d reserved",
                reason, job.tier, job.priority, " redelivered" if message.redelivered else "",
                t.reserved_cpu, t.offered_cpu, t.reserved_mem, t.offered_mem, t.used_slots,
                t.slots, len(capacity.inflight), len(capacity.reservations), extra={"job_id": job.id},
            )  # fmt: skip
        if self.lanes is not None and (not capacity.runners or not capacity.has_room_for_anything()):
            # Nothing fits anywhere: stop consuming the cluster's lanes and put the message back at
            # its place (a requeue keeps priority order, where a delay would shuffle it).
            await self.lanes.set_full(job.cluster, True)
            await message.nack(requeue=True)
            return
        if self.lanes is not None and reason == OVER_SHARE:
            await self.lanes.set_yielding(job.cluster, job.lane, True)
            await message.nack(requeue=True)
            return
        if (
            self.lanes is not None
            and decision is Decision.NO_ROOM
            and (not message.redelivered or not self._smaller_waits(job, now))
        ):
            # Blocking receive: the lane waits for the next capacity change with this job back at
            # its place. A job that comes back (redelivered) and still does not fit steps aside
            # through the delay queues, so that smaller jobs behind it can go; when none was seen
            # in the lane, stepping aside would only leave room unused while it waits out a delay.
            await self.lanes.set_waiting(job.cluster, job.lane, True)
            await message.nack(requeue=True)
            return
        raw = (message.headers or {}).get("x-delays", 0)
        delays = raw if isinstance(raw, int) else 0
        first_blocked = header_ms(message, "x-first-blocked-ms") or now
        waited_long = now - first_blocked >= self.reservation_after
        if decision in (Decision.NO_ROOM, Decision.RESERVED) and waited_long:
            capacity.hold_room(job.id, job.tier, job.priority, now, since=first_blocked, slots=job.slots)
        # A job holding a reservation comes back soon, so it is there when its room opens.
        wanted = step_aside_ms(decision, delays, self.min_ms, self.max_ms, self.room_max_ms)
        if job.id in capacity.reservations:
            wanted = self.min_ms
        headers = {
            "x-delays": delays + 1,
            "x-first-blocked-ms": int(first_blocked * 1000),
            "x-waiting-for": reason,
        }
        await self.bus.delayed(job, wanted, headers=headers)
        if decision in (Decision.NO_RUNNER, Decision.TOO_BIG):
            await self._note_unserved(job, decision, first=delays == 0, now=now)
        await message.ack()

    def _saw_size(self, job: JobMessage, now: float) -> None:
        req = request_of(job.tier)
        sizes = self.sizes_seen.setdefault((job.cluster, job.lane), {})
        sizes[(req.cpu_millicores, req.memory_mib, job.slots)] = now
        if len(sizes) > 64:  # bounded: sizes are few (tiers x slot counts) in practice
            del sizes[min(sizes, key=sizes.__getitem__)]

    def _smaller_waits(self, job: JobMessage, now: float) -> bool:
        """Whether a job needing less of something than ``job`` was seen in its lane just now."""
        req = request_of(job.tier)
        mine = (req.cpu_millicores, req.memory_mib, job.slots)
        return any(
            now - at <= SMALLER_SEEN_SECONDS
            and size != mine
            and all(a <= b for a, b in zip(size, mine, strict=True))
            for size, at in self.sizes_seen.get((job.cluster, job.lane), {}).items()
        )

    async def _note_unserved(self, job: JobMessage, decision: Decision, first: bool, now: float) -> None:
        if decision is Decision.TOO_BIG:
            why = (
                f"a bigger runner: no runner in {job.cluster!r} that offers {job.task!r} has room for a "
                f"{job.tier} job taking {job.slots} slot(s), even when idle"
            )
        else:
            why = f"no runner in {job.cluster!r} offers {job.task!r}"
        if first:
            await jobs.note(self.db, job.id, {"waiting_for": why})
        pair = (job.cluster, job.task)
        if now - self.unserved_noted.get(pair, 0.0) >= UNSERVED_NOTE_SECONDS:
            self.unserved_noted[pair] = now
            if len(self.unserved_noted) > 10_000:  # bounded: forget the oldest notes
                del self.unserved_noted[min(self.unserved_noted, key=self.unserved_noted.__getitem__)]
            await unserved.record(
                self.db, job.cluster, job.task, now, reason=why, too_big=decision is Decision.TOO_BIG
            )

    async def release_held_lanes(self, now: float) -> None:
        """Lets lanes go again once their cluster has room or they are back under their share, and
        lets waiting lanes try again (called on every capacity report and every housekeeping tick)."""
        if self.lanes is None:
            return
        for cluster in list(self.lanes.full):
            capacity = self.clusters[cluster]
            if capacity.runners and capacity.has_room_for_anything():
                await self.lanes.set_full(cluster, False)
        for cluster, lane in list(self.lanes.yielding):
            if not self.is_over_share(cluster, lane, now):
                await self.lanes.set_yielding(cluster, lane, False)
        for cluster, lane in list(self.lanes.waiting):
            await self.lanes.set_waiting(cluster, lane, False)
        await self.lanes.resync()

    async def _mark_waiting(self, job: JobMessage) -> bool:
        """IN_QUEUE -> WAITING; True if the message should be forwarded to the cluster."""
        for _ in range(MARK_TRIES):
            if await lifecycle.mark_waiting(self.writes, job):
                return True
            stored = await job_record.read(self.db, job.id)
            if stored is None:
                # Admission publishes before it records the job: it may be about to, or have died.
                await lifecycle.record(self.writes, job)
                continue
            if stored.attempt != job.attempt:
                break
            if stored.state is JobState.IN_QUEUE:
                continue  # recorded between our update and our read
            if stored.state is JobState.WAITING:
                # Our earlier forward may not have reached the broker; a duplicate is harmless
                # because a runner only starts a job through WAITING -> RUNNING.
                return True
            break
        else:
            raise RuntimeError(f"job {job.id} did not settle into WAITING after {MARK_TRIES} tries")
        log.debug("dropping a stale lane message", extra={"job_id": job.id})
        return False

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        dead_id = await dead_letters.record(
            self.db, source="dispatcher", reason=reason, body=message.body,
            keep_days=self.bus.settings.dead_letter_retention_days,
        )  # fmt: skip
        await self.bus.dead_letter(message.body, reason, headers={"x-laneyard-dead-id": dead_id})
        await message.ack()
        log.warning("dead-lettered a lane message: %s", reason, extra={"job_id": message.message_id})
