"""Heartbeats from inside tasks, through a runner on the real broker and database: progress and a
status line stored on the job, the stdout line protocol of subprocess tasks, and jobs stopped as
stuck when they stay silent past their heartbeat_timeout."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import Registry
from laneyard.services.runner.worker import Worker
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import jobs, logs
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier
from laneyard.shared.views.jobs import JobView
from tests.support.waiting import wait_terminal

registry = Registry()
seen: dict[str, dict[str, Any]] = {}


@registry.task("hb.steps")
async def steps(ctx: TaskContext, n: int) -> int:
    for i in range(n):
        ctx.heartbeat(progress=(i + 1) / n, message=f"step {i + 1} of {n}")
        await asyncio.sleep(0.3)
    # Seen by a poll while it still runs: the stored progress of a live job.
    await asyncio.sleep(1.5)
    return n


@registry.task("hb.silent")
async def silent(ctx: TaskContext, beats: int) -> None:
    for _ in range(beats):
        ctx.heartbeat()
        await asyncio.sleep(0.2)
    await asyncio.sleep(60)  # then stuck


@registry.task("hb.sync_beats")
def sync_beats(ctx: TaskContext) -> str:
    for i in range(5):
        ctx.heartbeat(progress=i / 4)  # from the task's thread
        time.sleep(0.3)
    return "done"


SCRIPT = (
    "import json, time\n"
    "print('starting')\n"
    "for i in range(3):\n"
    "    beat = {'progress': (i + 1) / 3, 'message': f'chunk {i + 1}'}\n"
    "    print('@laneyard heartbeat', json.dumps(beat), flush=True)\n"
    "    time.sleep(0.4)\n"
    "time.sleep(1.5)\n"
    "print('{\"ok\": true}')\n"
)
registry.script("hb.script", [sys.executable, "-c", SCRIPT])


def message(job_id: str, task: str, args: dict[str, Any], **fields: Any) -> JobMessage:
    return JobMessage(
        id=job_id, task=task, args=args, lane="main", cluster="default", priority=0,
        tier=Tier.TINY, max_execution_time=60, **fields,
    )  # fmt: skip


@pytest.fixture
async def worker(settings: Settings, bus: Bus, db: Database) -> AsyncIterator[Worker]:
    w = Worker(settings, bus, db, registry)
    await w.start()
    yield w
    await w.stop_consuming()
    w.pool.shutdown(wait=False)


async def send(db: Database, bus: Bus, job: JobMessage) -> None:
    await jobs.insert(db, job)
    await db["jobs"].update_one({"_id": job.id}, {"$set": {"state": "WAITING"}})
    await bus.to_cluster(job)


async def progress_while_running(db: Database, job_id: str, within: float = 20) -> JobView:
    """The job as seen the first time it is RUNNING with all its steps reported."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        doc = await jobs.get(db, job_id)
        if doc is not None and doc["state"] == "RUNNING" and doc.get("progress") == 1.0:
            return JobView.from_doc(doc)
        await asyncio.sleep(0.1)
    raise AssertionError(f"job {job_id} never showed its full progress while running")


async def test_progress_and_status_are_stored_while_the_job_runs(
    worker: Worker, settings: Settings, bus: Bus, db: Database
) -> None:
    await send(db, bus, message("steps", "hb.steps", {"n": 4}))
    view = await progress_while_running(db, "steps")
    assert view.status_message == "step 4 of 4" and view.heartbeat_at is not None
    docs = await wait_terminal(db, {"steps"}, within=20)
    assert docs["steps"]["state"] == "COMPLETED"


async def test_a_subprocess_reports_progress_on_stdout_without_logging_it(
    worker: Worker, settings: Settings, bus: Bus, db: Database
) -> None:
    await send(db, bus, message("script", "hb.script", {}))
    view = await progress_while_running(db, "script")
    assert view.status_message == "chunk 3"
    docs = await wait_terminal(db, {"script"}, within=20)
    assert docs["script"]["state"] == "COMPLETED" and docs["script"]["result"] == {"ok": True}
    lines = [line["m"] for line in await logs.read_lines(db, "script", 1)]
    assert lines == ["starting", '{"ok": true}']


async def test_a_sync_task_can_beat_from_its_thread(
    worker: Worker, settings: Settings, bus: Bus, db: Database
) -> None:
    await send(db, bus, message("sync", "hb.sync_beats", {}))
    docs = await wait_terminal(db, {"sync"}, within=20)
    assert docs["sync"]["state"] == "COMPLETED"
    assert docs["sync"].get("progress") is not None


async def test_a_silent_job_is_stopped_as_stuck_and_retried(
    worker: Worker, settings: Settings, bus: Bus, db: Database
) -> None:
    started = time.monotonic()
    job = message("stuck", "hb.silent", {"beats": 5}, heartbeat_timeout=1.0, max_retries=1, retry_backoff=0.0)
    await send(db, bus, job)
    # Attempt 1 is stopped after its beats end; the retry is its own job message through the lane,
    # which no dispatcher serves here: it waits IN_QUEUE as attempt 2.
    deadline = time.monotonic() + 20
    doc = await jobs.get(db, "stuck")
    while time.monotonic() < deadline and not (doc and doc["state"] == "IN_QUEUE" and doc["attempt"] == 2):
        await asyncio.sleep(0.1)
        doc = await jobs.get(db, "stuck")
    assert doc is not None and (doc["state"], doc["attempt"]) == ("IN_QUEUE", 2), doc
    assert doc["reason"] == "heartbeat timeout" and "no heartbeat" in doc["error"]
    took = time.monotonic() - started
    print(f"\nstopped as stuck {took:.1f}s after it was sent (5 beats 0.2 s apart, then a 1 s timeout)")
    assert took < 10

    # Without retries left it ends ERROR.
    await send(db, bus, message("stuck-once", "hb.silent", {"beats": 0}, heartbeat_timeout=0.5))
    docs = await wait_terminal(db, {"stuck-once"}, within=20)
    assert (docs["stuck-once"]["state"], docs["stuck-once"]["reason"]) == ("ERROR", "heartbeat timeout")
