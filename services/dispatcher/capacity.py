"""Capacity of one cluster as the dispatcher sees it: what runners report plus what is in flight.

Pure logic, no I/O. A job fits when, with its tier's request added, the cluster stays at or under
the threshold for CPU and memory and has a free slot, AND one runner that offers the task has room
for it. Jobs forwarded but not yet reported by a runner ("in flight") count against both.

Reservations end starvation: a job that has waited too long books the room it needs, and smaller
jobs of lower or equal priority are only placed if that room stays available.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from laneyard.shared.models import CapacityReport
from laneyard.shared.tiers import Resources, Tier, request_of


class Decision(StrEnum):
    FIT = "fit"
    NO_ROOM = "no_room"  # runners for the task exist but are too busy
    RESERVED = "reserved"  # the room is kept for a job that has waited longer
    NO_RUNNER = "no_runner"  # no living runner in the cluster offers the task
    TOO_BIG = "too_big"  # runners offer the task, but none could ever hold the job (tier or slots)


NOTHING = Resources(0, 0)


@dataclass
class RunnerView:
    report: CapacityReport
    received_at: float
    # in-flight jobs this runner is expected to take: an estimate, the runner has the last word
    hinted_cpu: int = 0
    hinted_mem: int = 0
    hinted_slots: int = 0

    def free(self) -> Resources:
        r = self.report
        return Resources(
            r.cpu_millicores - r.reserved_cpu_millicores - self.hinted_cpu,
            r.memory_mib - r.reserved_memory_mib - self.hinted_mem,
        )

    def used_slots(self) -> int:
        r = self.report
        return (r.slots_used if r.slots_used is not None else len(r.running)) + self.hinted_slots

    def free_slots(self) -> int:
        return self.report.slots - self.used_slots()

    def room_for(
        self, req: Resources, minus: Resources = NOTHING, slots_used: int = 0, slots: int = 1
    ) -> bool:
        free = self.free()
        return (
            free.cpu_millicores - minus.cpu_millicores >= req.cpu_millicores
            and free.memory_mib - minus.memory_mib >= req.memory_mib
            and self.free_slots() - slots_used >= slots
        )

    def could_ever_hold(self, req: Resources, slots: int) -> bool:
        r = self.report
        return r.cpu_millicores >= req.cpu_millicores and r.memory_mib >= req.memory_mib and r.slots >= slots


@dataclass
class InFlight:
    tier: Tier
    runner_id: str
    lane: str
    at: float
    slots: int = 1


@dataclass
class Reservation:
    tier: Tier
    priority: int
    seen_at: float
    since: float  # when the job first could not go: among equal priorities the oldest goes first
    slots: int = 1

    def outranks(self, other: Reservation) -> bool:
        return (self.priority, -self.since) > (other.priority, -other.since)


@dataclass
class Totals:
    offered_cpu: int = 0
    offered_mem: int = 0
    reserved_cpu: int = 0
    reserved_mem: int = 0
    slots: int = 0
    used_slots: int = 0
    runners: int = 0


@dataclass
class LaneUsage:
    cpu: int = 0
    mem: int = 0
    jobs: int = 0


@dataclass
class ClusterCapacity:
    threshold: float = 0.95
    runners: dict[str, RunnerView] = field(default_factory=dict)
    inflight: dict[str, InFlight] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)

    def apply(self, report: CapacityReport, now: float) -> None:
        old = self.runners.get(report.runner_id)
        view = RunnerView(report, now)
        if old is not None:
            view.hinted_cpu, view.hinted_mem = old.hinted_cpu, old.hinted_mem
            view.hinted_slots = old.hinted_slots
        self.runners[report.runner_id] = view
        for job_id in [*report.seen, *report.running]:
            self._forget(job_id)

    def remove_runner(self, runner_id: str) -> None:
        self.runners.pop(runner_id, None)
        for job_id in [j for j, f in self.inflight.items() if f.runner_id == runner_id]:
            self._forget(job_id)

    def expire(
        self, now: float, runner_timeout: float, inflight_timeout: float, reservation_timeout: float = 120.0
    ) -> list[str]:
        """Withdraws runners silent for ``runner_timeout``; returns their ids."""
        gone = [rid for rid, v in self.runners.items() if now - v.received_at > runner_timeout]
        for rid in gone:
            self.remove_runner(rid)
        for job_id in [j for j, f in self.inflight.items() if now - f.at > inflight_timeout]:
            self._forget(job_id)
        # A reserved job that stopped coming back (cancelled, dispatched by another dispatcher)
        # must not hold room forever.
        for job_id in [j for j, r in self.reservations.items() if now - r.seen_at > reservation_timeout]:
            del self.reservations[job_id]
        return gone

    def totals(self) -> Totals:
        t = Totals()
        for v in self.runners.values():
            if v.report.draining:
                continue
            r = v.report
            t.runners += 1
            t.offered_cpu += r.cpu_millicores
            t.offered_mem += r.memory_mib
            t.reserved_cpu += r.reserved_cpu_millicores + v.hinted_cpu
            t.reserved_mem += r.reserved_memory_mib + v.hinted_mem
            t.slots += r.slots
            t.used_slots += v.used_slots()
        return t

    def usage_by_lane(self) -> dict[str, LaneUsage]:
        usage: dict[str, LaneUsage] = {}
        for v in self.runners.values():
            for job_id, tier in v.report.running.items():
                self._add_usage(usage, v.report.lanes.get(job_id, ""), tier)
        for f in self.inflight.values():
            self._add_usage(usage, f.lane, f.tier)
        return usage

    @staticmethod
    def _add_usage(usage: dict[str, LaneUsage], lane: str, tier: Tier) -> None:
        req = request_of(tier)
        u = usage.setdefault(lane, LaneUsage())
        u.cpu += req.cpu_millicores
        u.mem += req.memory_mib
        u.jobs += 1

    def _within(self, t: Totals, extra: Resources, extra_slots: int) -> bool:
        return (
            t.reserved_cpu + extra.cpu_millicores <= self.threshold * t.offered_cpu
            and t.reserved_mem + extra.memory_mib <= self.threshold * t.offered_mem
            and t.used_slots + extra_slots <= t.slots
        )

    def _best_runner(
        self, req: Resources, task: str | None, slots: int = 1
    ) -> tuple[RunnerView | None, bool, bool]:
        """The candidate with the most free CPU that fits; whether any runner offers the task; and
        whether any of those could ever hold the job, were it idle."""
        offered = big_enough = False
        best: RunnerView | None = None
        for v in self.runners.values():
            if v.report.draining or (task is not None and task not in v.report.tasks):
                continue
            offered = True
            big_enough = big_enough or v.could_ever_hold(req, slots)
            if not v.room_for(req, slots=slots):
                continue
            if best is None or v.free().cpu_millicores > best.free().cpu_millicores:
                best = v
        return best, offered, big_enough

    def decide(
        self,
        tier: Tier,
        task: str | None,
        *,
        priority: int = 9,
        job_id: str | None = None,
        reservations: bool = True,
        slots: int = 1,
    ) -> tuple[Decision, str | None]:
        req = request_of(tier)
        best, offered, big_enough = self._best_runner(req, task, slots)
        if not offered:
            return Decision.NO_RUNNER, None
        if not big_enough:
            return Decision.TOO_BIG, None
        t = self.totals()
        if best is None or not self._within(t, req, slots):
            return Decision.NO_ROOM, None
        if reservations and not self._keeps_reserved_room(best, req, priority, job_id, t, slots):
            return Decision.RESERVED, None
        return Decision.FIT, best.report.runner_id

    def _keeps_reserved_room(
        self, placed_on: RunnerView, req: Resources, priority: int, job_id: str | None, t: Totals, slots: int
    ) -> bool:
        """Whether, after placing ``req`` on ``placed_on``, every reservation that outranks or equals
        ``priority`` would still find a runner with room (reservations are checked one at a time:
        they are few, and the oldest gets in first when room opens)."""
        mine = self.reservations.get(job_id) if job_id is not None else None
        for rid, res in self.reservations.items():
            if rid == job_id or res.priority < priority:
                continue
            # Reserved jobs yield only to reservations that outrank them: were every reservation to
            # hold back every other, two that cannot fit side by side would wait for each other forever.
            if mine is not None and not res.outranks(mine):
                continue
            need = request_of(res.tier)
            both = Resources(req.cpu_millicores + need.cpu_millicores, req.memory_mib + need.memory_mib)
            if not self._within(t, both, slots + res.slots):
                return False
            if not any(
                v.room_for(need, req, slots, res.slots)
                if v is placed_on
                else v.room_for(need, slots=res.slots)
                for v in self.runners.values()
                if not v.report.draining
            ):
                return False
        return True

    def has_room_for_anything(self) -> bool:
        """Room for the smallest job, ignoring reservations: whether lanes should be consumed at all."""
        return self.decide(Tier.TINY, None, reservations=False)[0] is Decision.FIT

    def reserve(
        self, job_id: str, tier: Tier, runner_id: str, now: float, lane: str = "", slots: int = 1
    ) -> None:
        req = request_of(tier)
        self.reservations.pop(job_id, None)
        view = self.runners.get(runner_id)
        if view is None or job_id in self.inflight:
            return
        view.hinted_cpu += req.cpu_millicores
        view.hinted_mem += req.memory_mib
        view.hinted_slots += slots
        self.inflight[job_id] = InFlight(tier, runner_id, lane, now, slots)

    def hold_room(
        self, job_id: str, tier: Tier, priority: int, now: float, since: float | None = None, slots: int = 1
    ) -> None:
        """Book room for a job that has waited too long (renewed each time it comes back)."""
        self.reservations[job_id] = Reservation(tier, priority, now, now if since is None else since, slots)

    def release(self, job_id: str) -> None:
        self._forget(job_id)

    def _forget(self, job_id: str) -> None:
        f = self.inflight.pop(job_id, None)
        if f is None:
            return
        view = self.runners.get(f.runner_id)
        if view is not None:
            req = request_of(f.tier)
            view.hinted_cpu -= req.cpu_millicores
            view.hinted_mem -= req.memory_mib
            view.hinted_slots -= f.slots
