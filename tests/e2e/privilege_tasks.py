"""A task for tests/e2e/test_least_privilege.py: spawns a sub-task into a lane it names."""

from __future__ import annotations

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import task


@task("lp.spawn")
async def spawn(ctx: TaskContext, lane: str) -> dict[str, str]:
    child = await ctx.submit_subtask("demo.echo", {"from": ctx.job_id}, lane=lane, tier="TINY")
    return {"child": child}
