"""Built-in demo tasks, registered on every runner unless disabled."""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import Registry

demo = Registry()


class DemoFailure(RuntimeError):
    pass


@demo.task("demo.noop")
async def noop(ctx: TaskContext) -> None:
    return None


@demo.task("demo.sleep")
async def sleep(ctx: TaskContext, seconds: float = 1.0) -> dict[str, float]:
    await asyncio.sleep(float(seconds))
    return {"slept": float(seconds)}


@demo.task("demo.fail")
async def fail(ctx: TaskContext, message: str = "demo.fail always fails") -> None:
    raise DemoFailure(message)


@demo.task("demo.log")
async def write_log(ctx: TaskContext, lines: int = 10) -> dict[str, int]:
    for i in range(int(lines)):
        ctx.log(f"line {i + 1} of {lines}")
    return {"lines": int(lines)}


@demo.task("demo.echo")
async def echo(ctx: TaskContext, **args: Any) -> dict[str, Any]:
    return args


# A subprocess task: prints its args, sleeps {"seconds": x}, prints its args again as the result.
DEMO_SCRIPT = (
    "import json, sys, time\n"
    "args = json.load(sys.stdin)\n"
    "print('demo.script got', json.dumps(args), flush=True)\n"
    "time.sleep(float(args.get('seconds', 0)))\n"
    "print(json.dumps(args))\n"
)
demo.script("demo.script", [sys.executable, "-c", DEMO_SCRIPT])


@demo.task("demo.cpu", process=True)
def cpu(ctx: TaskContext, seconds: float = 1.0) -> dict[str, int]:
    """Keeps a CPU busy for ``seconds`` in a Python process of its own, so the runner's event loop
    and its other tasks do not share the GIL with it."""
    end, loops = time.monotonic() + float(seconds), 0
    while time.monotonic() < end:
        loops += 1
    return {"loops": loops}
