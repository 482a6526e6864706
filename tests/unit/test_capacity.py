from __future__ import annotations

from laneyard.services.dispatcher.capacity import ClusterCapacity, Decision
from laneyard.shared.models import CapacityReport
from laneyard.shared.tiers import Tier, request_of


def report(runner: str, cpu: int = 4000, mem: int = 8192, slots: int = 8, **kw: object) -> CapacityReport:
    return CapacityReport(
        runner_id=runner, cluster="c", host="h", pid=1, cpu_millicores=cpu, memory_mib=mem, slots=slots,
        tasks=["t"], **kw,  # type: ignore[arg-type]
    )  # fmt: skip


def test_no_runner_means_no_runner() -> None:
    cap = ClusterCapacity()
    assert cap.decide(Tier.TINY, "t")[0] is Decision.NO_RUNNER


def test_task_not_offered_is_no_runner_even_with_room() -> None:
    cap = ClusterCapacity()
    cap.apply(report("r1"), now=0)
    assert cap.decide(Tier.TINY, "other")[0] is Decision.NO_RUNNER


def test_fits_until_threshold_then_no_room() -> None:
    cap = ClusterCapacity(threshold=0.95)
    cap.apply(report("r1", cpu=4000, mem=100_000, slots=100), now=0)
    placed = 0
    while True:
        decision, runner = cap.decide(Tier.SMALL, "t")
        if decision is not Decision.FIT:
            break
        assert runner == "r1"
        cap.reserve(f"j{placed}", Tier.SMALL, runner, now=0)
        placed += 1
    # 256m each: 14 fit under 0.95 * 4000 = 3800, the 15th would make 3840 > 3800
    assert placed == 14
    assert decision is Decision.NO_ROOM


def test_slots_limit() -> None:
    cap = ClusterCapacity()
    cap.apply(report("r1", slots=2), now=0)
    for i in range(2):
        d, r = cap.decide(Tier.TINY, "t")
        assert d is Decision.FIT and r
        cap.reserve(f"j{i}", Tier.TINY, r, now=0)
    assert cap.decide(Tier.TINY, "t")[0] is Decision.NO_ROOM


def test_one_runner_must_have_room_even_if_cluster_total_does() -> None:
    # Two runners with 800m free each: 1600m free in total, but a 1024m HUGE job fits on neither.
    cap = ClusterCapacity(threshold=1.0)
    cap.apply(report("r1", cpu=1100, reserved_cpu_millicores=300), now=0)
    cap.apply(report("r2", cpu=1100, reserved_cpu_millicores=300), now=0)
    assert request_of(Tier.HUGE).cpu_millicores == 1024
    assert cap.decide(Tier.HUGE, "t")[0] is Decision.NO_ROOM
    assert cap.decide(Tier.LARGE, "t")[0] is Decision.FIT


def test_report_of_a_seen_job_ends_its_in_flight_hint() -> None:
    cap = ClusterCapacity()
    cap.apply(report("r1", slots=1), now=0)
    cap.reserve("j1", Tier.TINY, "r1", now=0)
    assert cap.decide(Tier.TINY, "t")[0] is Decision.NO_ROOM
    cap.apply(report("r1", slots=1, running={"j1": Tier.TINY}, reserved_cpu_millicores=100,
                     reserved_memory_mib=128, seen=["j1"]), now=1)  # fmt: skip
    assert "j1" not in cap.inflight
    assert cap.decide(Tier.TINY, "t")[0] is Decision.NO_ROOM  # now counted as running
    cap.apply(report("r1", slots=1), now=2)
    assert cap.decide(Tier.TINY, "t")[0] is Decision.FIT


def test_silent_runner_is_withdrawn() -> None:
    cap = ClusterCapacity()
    cap.apply(report("r1"), now=0)
    cap.apply(report("r2"), now=5)
    assert cap.expire(now=6.5, runner_timeout=6, inflight_timeout=30) == ["r1"]
    assert set(cap.runners) == {"r2"}


def test_draining_runner_offers_nothing() -> None:
    cap = ClusterCapacity()
    cap.apply(report("r1", draining=True), now=0)
    assert cap.decide(Tier.TINY, "t")[0] is Decision.NO_RUNNER
    assert cap.totals().offered_cpu == 0


def test_a_job_no_runner_could_ever_hold_waits_for_a_bigger_runner() -> None:
    cap = ClusterCapacity(threshold=1.0)
    cap.apply(report("r1", cpu=1000, mem=8192, slots=4), now=0)
    assert cap.decide(Tier.HUGE, "t")[0] is Decision.TOO_BIG  # 1024m on a 1000m runner
    assert cap.decide(Tier.TINY, "t", slots=5)[0] is Decision.TOO_BIG  # 5 slots on a 4-slot runner
    assert cap.decide(Tier.TINY, "t", slots=4)[0] is Decision.FIT
    cap.apply(report("r2", cpu=4000, mem=8192, slots=8), now=0)
    assert cap.decide(Tier.HUGE, "t")[0] is Decision.FIT


def test_slots_of_a_job_count_against_the_runner_and_the_cluster() -> None:
    cap = ClusterCapacity()
    cap.apply(report("r1", slots=8), now=0)
    decision, runner = cap.decide(Tier.TINY, "t", slots=6)
    assert decision is Decision.FIT and runner == "r1"
    cap.reserve("wide", Tier.TINY, runner, now=0, slots=6)
    assert cap.decide(Tier.TINY, "t", slots=3)[0] is Decision.NO_ROOM
    assert cap.decide(Tier.TINY, "t", slots=2)[0] is Decision.FIT
    # Once the runner reports the job running with its slots, the hint gives way to the report.
    cap.apply(report("r1", slots=8, running={"wide": Tier.TINY}, slots_used=6, seen=["wide"]), now=1)
    assert "wide" not in cap.inflight
    assert cap.totals().used_slots == 6
    assert cap.decide(Tier.TINY, "t", slots=3)[0] is Decision.NO_ROOM
