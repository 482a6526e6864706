"""Worker.cancel: a cancel request stops a job that is running, but never one whose outcome is
already being recorded (that would leave its message unacked and the job RUNNING)."""

from __future__ import annotations

import asyncio

from laneyard.services.runner.registry import Registry
from laneyard.services.runner.worker import Active, Worker
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier


def _job(job_id: str) -> JobMessage:
    return JobMessage(
        id=job_id, task="demo.sleep", args={}, lane="main", cluster="default", priority=0,
        tier=Tier.TINY, max_execution_time=60,
    )  # fmt: skip


async def test_cancel_stops_a_running_job_but_not_one_being_recorded(
    settings: Settings, bus: Bus, db: Database
) -> None:
    worker = Worker(settings, bus, db, Registry())
    try:
        running = asyncio.create_task(asyncio.sleep(60))
        finishing = asyncio.create_task(asyncio.sleep(60))
        worker.active["a"] = Active(_job("a"), 1, running)
        worker.active["b"] = Active(_job("b"), 1, finishing, finishing=True)

        assert worker.cancel("a") is True
        assert worker.active["a"].cancel_requested
        assert worker.cancel("a") is False  # a repeated request does not cancel twice
        assert worker.cancel("b") is False
        assert worker.cancel("not-here") is False
        await asyncio.sleep(0)
        assert running.cancelled() and not finishing.done()
    finally:
        finishing.cancel()
        worker.pool.shutdown(wait=False)
