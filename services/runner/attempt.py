"""One attempt of a job on this runner: its context, log, heartbeats and the task's run, stopped
when it goes silent past its ``heartbeat_timeout``. Pure of message handling (services/runner/worker.py)."""

from __future__ import annotations

import asyncio
import contextlib
import random
from concurrent.futures import ThreadPoolExecutor

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.execute import run_task
from laneyard.services.runner.job_logs import LogBuffer
from laneyard.services.runner.outcome import Outcome
from laneyard.services.runner.pulse import Pulse
from laneyard.services.runner.registry import TaskDef
from laneyard.services.runner.subtasks import JobSpawner
from laneyard.shared.metrics import runner as runner_metrics
from laneyard.shared.models import JobMessage
from laneyard.shared.reasons import Reason
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store.database import Database


async def run_attempt(
    task: TaskDef,
    job: JobMessage,
    attempt: int,
    db: Database,
    settings: Settings,
    runner_id: str,
    spawner: JobSpawner,
    pool: ThreadPoolExecutor,
) -> Outcome:
    buffer = LogBuffer(db, job.id, attempt, settings.runner_log_batch_lines, settings.runner_log_max_lines)
    pulse = Pulse(db, job.id, attempt, runner_id, job.task)
    ctx = TaskContext(
        job.id, attempt, runner_id, job.cluster, buffer, spawner,
        schedule_id=job.schedule_id, last_completed_at=TaskContext.utc(job.last_completed_at), pulse=pulse,
    )  # fmt: skip
    buffer.start()
    pulse.start()
    try:
        work = run_task(
            task, ctx, job.args, job.max_execution_time, pool, job.tier, settings.kill_grace_seconds
        )
        if job.heartbeat_timeout is None:
            outcome = await work
        else:
            outcome = await unless_silent(asyncio.ensure_future(work), pulse, job.heartbeat_timeout)
    finally:
        await pulse.close()
        await buffer.close()
    outcome.subtasks = ctx.subtasks
    return outcome


async def unless_silent(work: asyncio.Future[Outcome], pulse: Pulse, limit: float) -> Outcome:
    """The task's outcome, or ERROR ``heartbeat timeout`` once it has been silent for ``limit``
    seconds (a sync task's thread cannot be stopped and runs on, as at its time limit; a
    subprocess task is killed)."""
    try:
        while not work.done():
            left = limit - pulse.silent_for()
            if left <= 0:
                silent = pulse.silent_for()
                work.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await work
                runner_metrics.TASKS_STUCK.labels(pulse.task).inc()
                return Outcome(
                    JobState.ERROR,
                    error=f"stuck: no heartbeat for {silent:.1f}s (heartbeat_timeout {limit:g}s)",
                    reason=str(Reason.HEARTBEAT_TIMEOUT),
                )
            await asyncio.wait({work}, timeout=min(left, 1.0))
        return work.result()
    except asyncio.CancelledError:
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        raise


def retry_delay(backoff: float, attempt: int, rng: random.Random | None = None) -> float:
    """Seconds before retry ``attempt + 1``: exponential from ``backoff``, with 20% jitter."""
    jitter: float = (rng or random).uniform(0.8, 1.2)
    return float(backoff * 2.0 ** (attempt - 1) * jitter)
