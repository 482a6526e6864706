"""Running one task to an outcome: its result, or why it failed."""

from __future__ import annotations

import asyncio
import functools
import json
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.outcome import MAX_RESULT_CHARS, Outcome
from laneyard.services.runner.registry import TaskDef
from laneyard.services.runner.subprocess_task import run_script
from laneyard.shared.reasons import Reason
from laneyard.shared.states import JobState
from laneyard.shared.tiers import Tier, limit_of

MAX_RESULT_BYTES = MAX_RESULT_CHARS


def _storable(result: Any) -> tuple[Any, str | None]:
    """Results are stored as JSON; anything else is refused with a reason rather than crashing."""
    try:
        encoded = json.dumps(result)
    except (TypeError, ValueError) as exc:
        return None, f"result is not JSON-serialisable: {exc}"
    if len(encoded) > MAX_RESULT_BYTES:
        return None, f"result is {len(encoded)} bytes; the limit is {MAX_RESULT_BYTES}"
    return result, None


async def run_task(
    task: TaskDef,
    ctx: TaskContext,
    args: dict[str, Any],
    time_limit: float,
    pool: ThreadPoolExecutor,
    tier: Tier = Tier.LARGE,
    kill_grace: float = 5.0,
) -> Outcome:
    if task.argv is not None:
        memory = limit_of(tier).memory_mib
        return await run_script(task.argv, ctx, args, time_limit, memory, kill_grace)
    try:
        if task.is_async:
            result = await asyncio.wait_for(task.fn(ctx, **args), time_limit)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(task.fn, ctx, **args)
            # A sync task that overruns cannot be interrupted in its thread; it is reported as timed
            # out and its thread finishes in the background. Subprocess tasks can be killed.
            result = await asyncio.wait_for(loop.run_in_executor(pool, call), time_limit)
    except TimeoutError:
        return Outcome(
            JobState.ERROR, error=f"ran past max_execution_time ({time_limit:g}s)", reason=Reason.TIMEOUT
        )
    except TypeError as exc:
        if "argument" in str(exc):
            return Outcome(JobState.ERROR, error=f"bad args for {task.name}: {exc}", reason=Reason.BAD_ARGS)
        return _failed(exc)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return _failed(exc)
    stored, problem = _storable(result)
    if problem is not None:
        return Outcome(JobState.ERROR, error=problem, reason=Reason.BAD_RESULT)
    return Outcome(JobState.COMPLETED, result=stored)


def _failed(exc: BaseException) -> Outcome:
    tb = "".join(traceback.format_exception(exc, limit=20))
    return Outcome(
        JobState.ERROR, error=f"{type(exc).__name__}: {exc}\n{tb[-4000:]}", reason=Reason.EXCEPTION
    )
