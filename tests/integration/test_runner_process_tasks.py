"""``@task(..., process=True)``: the function runs in a Python process of its own, with the job's
args, context fields from the environment, its log lines stored, and its result or traceback."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.execute import run_task
from laneyard.services.runner.job_logs import LogBuffer
from laneyard.services.runner.outcome import Outcome
from laneyard.services.runner.process_call import ProcessContext
from laneyard.services.runner.registry import Registry
from laneyard.shared.states import JobState
from laneyard.shared.store import logs
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier

POOL = ThreadPoolExecutor(max_workers=1)
registry = Registry()


@registry.task("p.add", process=True)
def add(ctx: ProcessContext, a: int, b: int) -> dict[str, Any]:
    ctx.log(f"adding {a} and {b}")
    return {"sum": a + b, "pid": os.getpid(), "job": ctx.job_id, "attempt": ctx.attempt}


@registry.task("p.async", process=True)
async def add_async(ctx: ProcessContext, a: int) -> int:
    return a * 2


@registry.task("p.fail", process=True)
def fail(ctx: ProcessContext) -> None:
    raise ValueError("no good")


@registry.task("p.spin", process=True)
def spin(ctx: ProcessContext) -> None:
    while True:
        pass


async def run(db: Database, name: str, job_id: str, args: dict[str, Any], limit: float = 20.0) -> Outcome:
    task = registry.get(name)
    assert task is not None and task.argv is not None
    buffer = LogBuffer(db, job_id, 3, batch_lines=50, max_lines=1000)
    buffer.start()
    try:
        ctx = TaskContext(job_id, 3, "r1", "default", buffer)
        return await run_task(task, ctx, args, limit, POOL, Tier.SMALL, kill_grace=1.0)
    finally:
        await buffer.close()


async def test_a_process_task_runs_elsewhere_and_returns_its_result(db: Database) -> None:
    started = time.monotonic()
    outcome = await run(db, "p.add", "j1", {"a": 2, "b": 3})
    print(f"\nprocess=True round trip: {time.monotonic() - started:.2f}s")
    assert outcome.state is JobState.COMPLETED, outcome
    assert outcome.result["sum"] == 5 and outcome.result["job"] == "j1" and outcome.result["attempt"] == 3
    assert outcome.result["pid"] != os.getpid()
    lines = [line["m"] for line in await logs.read_lines(db, "j1", 3)]
    assert lines[0] == "adding 2 and 3"
    assert (await run(db, "p.async", "j2", {"a": 21})).result == 42


async def test_a_failing_process_task_reports_its_exception(db: Database) -> None:
    outcome = await run(db, "p.fail", "j3", {})
    assert outcome.state is JobState.ERROR and outcome.error is not None
    assert "ValueError: no good" in outcome.error
    bad = await run(db, "p.add", "j4", {"a": 1})
    assert bad.state is JobState.ERROR and bad.error is not None
    assert "missing a required argument" in bad.error


async def test_a_process_task_is_stopped_at_its_time_limit(db: Database) -> None:
    started = time.monotonic()
    outcome = await run(db, "p.spin", "j5", {}, limit=1.0)
    assert outcome.state is JobState.ERROR and outcome.reason == "timeout"
    assert time.monotonic() - started < 10


def test_only_importable_functions_can_run_in_a_process() -> None:
    def local(ctx: ProcessContext) -> None:
        return None

    try:
        Registry().task("x", process=True)(local)
    except ValueError as exc:
        assert "top level" in str(exc)
    else:
        raise AssertionError("a local function was accepted")
