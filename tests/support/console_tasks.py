"""A task for the console's browser tests: one that writes its log slowly, so lines can be seen
arriving while it runs."""

from __future__ import annotations

import asyncio

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import task


@task("console.drip")
async def drip(ctx: TaskContext, lines: int = 20, every: float = 0.2) -> dict[str, int]:
    for i in range(int(lines)):
        ctx.log(f"line {i + 1} of {lines}")
        ctx.heartbeat(progress=(i + 1) / int(lines), message=f"line {i + 1}")
        await asyncio.sleep(float(every))
    return {"lines": int(lines)}
