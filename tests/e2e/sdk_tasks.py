"""Tasks written the way the README shows: the public ``laneyard.task`` decorator, typed handles."""

from __future__ import annotations

import asyncio
import time

from laneyard import TaskContext, task


@task("sdk.add", tier="TINY")
async def add(ctx: TaskContext, a: int, b: int = 0) -> int:
    ctx.log(f"adding {a} and {b}")
    return a + b


@task("sdk.fail", tier="TINY")
def fail(ctx: TaskContext, message: str) -> None:
    raise ValueError(message)


@task("sdk.chatty", tier="TINY")
async def chatty(ctx: TaskContext, lines: int, pause: float = 0.05) -> int:
    for i in range(lines):
        ctx.log(f"line {i}")
        await asyncio.sleep(pause)
    return lines


@task("sdk.sleep", tier="TINY")
def sleep(ctx: TaskContext, seconds: float) -> float:
    time.sleep(seconds)
    return seconds
