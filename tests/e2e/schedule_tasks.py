"""A task for the schedule tests: it reports what its context says about its schedule."""

from __future__ import annotations

import asyncio

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import task


@task("e2e.since")
async def since(ctx: TaskContext, sleep: float = 0.0) -> dict[str, object]:
    if sleep:
        await asyncio.sleep(sleep)
    last = ctx.last_completed_at
    return {"schedule_id": ctx.schedule_id, "last_completed_at": last.timestamp() if last else None}
