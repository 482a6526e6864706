"""Pure decisions of the job lifecycle: what a lost job becomes, when a job has overstayed, retry
delays, and the heartbeat line protocol."""

from __future__ import annotations

import random

import pytest

from laneyard.services.runner import heartbeats
from laneyard.services.runner.attempt import retry_delay
from laneyard.shared.lifecycle import Fate, fate_of_lost, overstay
from laneyard.shared.reasons import Reason
from laneyard.shared.states import JobState
from laneyard.shared.store.job_record import JobRecord


def test_a_lost_job_is_requeued_while_it_has_retries_and_cancelled_if_asked() -> None:
    assert fate_of_lost(attempt=1, max_retries=1, cancel_requested=False) is Fate.REQUEUE
    assert fate_of_lost(attempt=2, max_retries=1, cancel_requested=False) is Fate.FAIL
    assert fate_of_lost(attempt=1, max_retries=0, cancel_requested=False) is Fate.FAIL
    assert fate_of_lost(attempt=1, max_retries=5, cancel_requested=True) is Fate.CANCEL


def running(started: float, **fields: object) -> JobRecord:
    doc = {
        "_id": "j", "task": "t", "lane": "main", "cluster": "default", "state": "RUNNING", "attempt": 2,
        "timeline": {"1": {"RUNNING": 1.0}, "2": {"RUNNING": started}}, "max_execution_time": 100.0,
    }  # fmt: skip
    return JobRecord.of({**doc, **fields})


def test_overstay_past_the_time_limit_plus_grace() -> None:
    assert overstay(running(1000.0), now=1000.0 + 100 + 59, grace=60) is None
    why = overstay(running(1000.0), now=1000.0 + 100 + 61, grace=60)
    assert why is not None and why.reason is Reason.TIMEOUT_REAPED and "max_execution_time" in why.error


def test_overstay_without_heartbeats() -> None:
    doc = running(1000.0, heartbeat_timeout=10.0, max_execution_time=10_000.0)
    assert overstay(doc, now=1005.0, grace=60) is None
    why = overstay(doc, now=1000.0 + 10 + 16, grace=60)  # the runner had a quarter grace to act
    assert why is not None and why.reason is Reason.HEARTBEAT_TIMEOUT
    # A recent heartbeat keeps it alive.
    assert overstay(doc.model_copy(update={"heartbeat_at": 1020.0}), now=1026.0, grace=60) is None


def test_retry_delay_grows_exponentially_with_jitter() -> None:
    rng = random.Random(3)
    for attempt, base in ((1, 2.0), (2, 4.0), (3, 8.0)):
        assert 0.8 * base <= retry_delay(2.0, attempt, rng) <= 1.2 * base
    assert retry_delay(0.0, 4) == 0.0


def test_heartbeat_lines_round_trip_and_others_are_log_lines() -> None:
    line = heartbeats.line_of(0.25, "page 25 of 100")
    assert line.startswith("@laneyard heartbeat ")
    assert heartbeats.parse_line(line) == heartbeats.Beat(0.25, "page 25 of 100")
    assert heartbeats.parse_line("@laneyard heartbeat") == heartbeats.Beat(None, None)
    assert heartbeats.parse_line("progress 25%") is None
    assert heartbeats.parse_line("@laneyard heartbeat {not json") is None
    assert heartbeats.parse_line('@laneyard heartbeat {"progress": 7}') is None  # out of range: a log line
    assert heartbeats.checked(None, "x" * 500).message == "x" * heartbeats.MAX_MESSAGE_CHARS
    for bad in (-0.1, 1.5, float("nan"), True, "half"):
        with pytest.raises(ValueError):
            heartbeats.checked(bad, None)  # type: ignore[arg-type]


def test_a_job_record_reads_a_stored_job_and_becomes_its_message_again() -> None:
    record = running(1000.0, args={"k": 1}, slots=3, labels={"a": "b"}, unknown_field="kept")
    assert record.entered(JobState.RUNNING) == 1000.0 and record.entered(JobState.RUNNING, 1) == 1.0
    message = record.message()
    assert (message.id, message.attempt, message.slots, message.args) == ("j", 2, 3, {"k": 1})
    assert record.model_extra == {"unknown_field": "kept"}


def test_a_runner_fits_a_job_by_its_tier_and_its_slots() -> None:
    from laneyard.services.runner.reporter import Ledger
    from laneyard.shared.tiers import Tier

    ledger = Ledger("r", "c", cpu=2000, mem=4096, slots=4, tasks=["t"])
    assert ledger.fits(Tier.LARGE, 3)
    ledger.start("wide", Tier.LARGE, "main", 3)
    assert not ledger.fits(Tier.TINY, 2) and ledger.fits(Tier.TINY, 1)
    assert not ledger.fits(Tier.XHUGE)  # 2048m on a runner with 1488m left
    report = ledger.report()
    assert report.slots_used == 3 and report.reserved_cpu_millicores == 512
    ledger.finish("wide")
    assert ledger.fits(Tier.TINY, 4) and ledger.report().slots_used == 0
