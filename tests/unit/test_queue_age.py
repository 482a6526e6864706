"""The oldest-queued-job age the dispatcher reports per lane, from the messages it handles."""

from __future__ import annotations

from laneyard.services.dispatcher.queue_age import QueueAges
from laneyard.shared.models import JobMessage
from laneyard.shared.tiers import Tier

KEY = ("default", "main")


def job(job_id: str, submitted_at: float, attempt: int = 1, not_before: float | None = None) -> JobMessage:
    return JobMessage(
        id=job_id, task="t", args={}, lane="main", cluster="default", priority=5, tier=Tier.TINY,
        max_execution_time=10, attempt=attempt, submitted_at=submitted_at, not_before=not_before,
    )  # fmt: skip


def test_a_blocked_lane_reports_its_oldest_held_back_job() -> None:
    ages = QueueAges()
    a, b = job("a", 100.0), job("b", 90.0)
    for j in (a, b):
        ages.received(j, 110.0)
        ages.held_back(j, 110.0)
    assert ages.oldest_age(KEY, depth=2, now=130.0) == 40.0
    # b comes back and goes: a is the oldest left
    ages.received(b, 131.0)
    assert ages.forwarded(b, 131.0) == 41.0
    assert ages.oldest_age(KEY, depth=1, now=131.0) == 31.0


def test_a_flowing_lane_reports_the_last_wait_and_an_empty_one_zero() -> None:
    ages = QueueAges()
    ages.received(job("a", 100.0), 100.5)
    assert ages.oldest_age(KEY, depth=3, now=200.0) == 0.5
    assert ages.oldest_age(KEY, depth=0, now=200.0) == 0.0


def test_retries_and_start_at_are_queued_from_when_they_could_go() -> None:
    ages = QueueAges()
    retry = job("r", 0.0, attempt=2)
    ages.received(retry, 500.0)
    ages.held_back(retry, 500.0)
    assert ages.oldest_age(KEY, depth=1, now=510.0) == 10.0
    later = job("s", 0.0, not_before=400.0)
    ages.received(later, 401.0)
    assert ages.forwarded(later, 401.0) == 1.0


def test_losing_the_lease_forgets_everything_and_the_lists_are_bounded() -> None:
    ages = QueueAges(max_jobs=3)
    for i in range(10):
        j = job(str(i), float(i))
        ages.received(j, 20.0)
        ages.held_back(j, 20.0)
    assert len(ages.held[KEY]) == 3
    ages.clear()
    assert ages.oldest_age(KEY, depth=5, now=30.0) == 0.0
