"""Reservations end starvation: a large job that waited books its room against smaller jobs."""

from __future__ import annotations

from laneyard.services.dispatcher.capacity import ClusterCapacity, Decision
from laneyard.shared.models import CapacityReport
from laneyard.shared.tiers import Tier


def report(runner: str, cpu: int, running: dict[str, Tier] | None = None) -> CapacityReport:
    from laneyard.shared.tiers import request_of

    running = running or {}
    return CapacityReport(
        runner_id=runner, cluster="c", host="h", pid=1, cpu_millicores=cpu, memory_mib=100_000, slots=100,
        tasks=["t"], running=running,
        reserved_cpu_millicores=sum(request_of(t).cpu_millicores for t in running.values()),
        reserved_memory_mib=sum(request_of(t).memory_mib for t in running.values()),
    )  # fmt: skip


def test_small_jobs_cannot_take_the_room_a_reserved_job_needs() -> None:
    cap = ClusterCapacity(threshold=1.0)
    # 2000m runner; 1024m busy: a HUGE (1024m) does not fit, a SMALL (256m) does.
    cap.apply(report("r1", 2000, {"busy": Tier.HUGE}), now=0)
    assert cap.decide(Tier.HUGE, "t")[0] is Decision.NO_ROOM
    assert cap.decide(Tier.SMALL, "t", priority=5)[0] is Decision.FIT
    cap.hold_room("big", Tier.HUGE, priority=5, now=0)
    # A SMALL of equal or lower priority would leave 720m: the HUGE could never get in.
    assert cap.decide(Tier.SMALL, "t", priority=5)[0] is Decision.RESERVED
    assert cap.decide(Tier.SMALL, "t", priority=3)[0] is Decision.RESERVED
    # A higher-priority job is not held back by a lower-priority reservation.
    assert cap.decide(Tier.SMALL, "t", priority=7)[0] is Decision.FIT
    # When the busy job ends, the reserved job fits and takes its room.
    cap.apply(report("r1", 2000), now=1)
    decision, runner = cap.decide(Tier.HUGE, "t", priority=5, job_id="big")
    assert decision is Decision.FIT and runner == "r1"
    cap.reserve("big", Tier.HUGE, runner, now=1)
    assert "big" not in cap.reservations


def test_reservation_does_not_block_jobs_that_leave_it_room() -> None:
    cap = ClusterCapacity(threshold=1.0)
    cap.apply(report("r1", 4000, {"busy": Tier.HUGE}), now=0)  # full
    cap.apply(report("r2", 4000), now=0)  # empty
    cap.hold_room("big", Tier.LARGE, priority=5, now=0)  # needs 1500m on one runner
    # A SMALL on r2 still leaves 3500m there.
    assert cap.decide(Tier.SMALL, "t", priority=5)[0] is Decision.FIT


def test_reservations_expire_when_the_job_stops_coming_back() -> None:
    cap = ClusterCapacity()
    cap.hold_room("big", Tier.LARGE, priority=5, now=0)
    cap.expire(now=200, runner_timeout=6, inflight_timeout=30, reservation_timeout=120)
    assert cap.reservations == {}


def test_room_for_anything_ignores_reservations() -> None:
    cap = ClusterCapacity(threshold=1.0)
    cap.apply(report("r1", 2000, {"busy": Tier.MEDIUM}), now=0)
    cap.hold_room("big", Tier.LARGE, priority=9, now=0)
    assert cap.has_room_for_anything()  # lanes keep flowing so the reserved job can come back


def test_reservations_that_cannot_fit_side_by_side_go_oldest_first() -> None:
    # An XHUGE and many SMALLs all waited long enough to reserve; no XHUGE+SMALL fit together.
    # Were each reservation to hold back every other, nothing would ever run (a real stall we had).
    cap = ClusterCapacity(threshold=1.0)
    cap.apply(report("r1", 2048), now=0)
    for i in range(40):
        cap.hold_room(f"small-{i}", Tier.SMALL, priority=5, now=10, since=float(i))
    cap.hold_room("big", Tier.XHUGE, priority=5, now=10, since=5.5)
    # Older SMALLs go first; the XHUGE is held only by the six SMALLs older than it...
    assert cap.decide(Tier.SMALL, "t", priority=5, job_id="small-0")[0] is Decision.FIT
    assert cap.decide(Tier.XHUGE, "t", priority=5, job_id="big")[0] is Decision.RESERVED
    # ...and once they are gone it goes before the younger ones, which it holds back.
    for i in range(6):
        del cap.reservations[f"small-{i}"]
    assert cap.decide(Tier.XHUGE, "t", priority=5, job_id="big")[0] is Decision.FIT
    assert cap.decide(Tier.SMALL, "t", priority=5, job_id="small-7")[0] is Decision.RESERVED
    # A reservation of higher priority outranks an older one.
    cap.hold_room("urgent", Tier.XHUGE, priority=9, now=10, since=100.0)
    assert cap.decide(Tier.XHUGE, "t", priority=5, job_id="big")[0] is Decision.RESERVED
