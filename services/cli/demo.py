"""A demo workload: a steady mix of demo tasks, and a line a second showing them flow.

Goes through the public client (``AsyncClient``) only, like any application would.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import signal
import time
from collections import Counter

from laneyard.client import AsyncClient, Job, JobSpec
from laneyard.errors import LaneyardError
from laneyard.shared.states import TERMINAL
from laneyard.shared.views.jobs import JobView

MIX: list[tuple[float, JobSpec]] = [
    (0.40, {"task": "demo.noop", "tier": "TINY"}),
    (0.25, {"task": "demo.sleep", "args": {"seconds": 0.2}, "tier": "SMALL"}),
    (0.15, {"task": "demo.log", "args": {"lines": 5}, "tier": "TINY", "lane": "logs"}),
    (0.15, {"task": "demo.echo", "args": {"hello": "world"}, "tier": "XSMALL", "priority": 8}),
    (0.05, {"task": "demo.fail", "tier": "TINY", "max_retries": 1, "retry_backoff": 0.2}),
]


def pick() -> JobSpec:
    r = random.random()
    for weight, spec in MIX:
        if r < weight:
            return spec
        r -= weight
    return MIX[0][1]


async def _wait_ready(client: AsyncClient, within: float = 60.0) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            await client.health()
            return
        except LaneyardError:
            await asyncio.sleep(0.25)
    raise SystemExit(f"admission did not answer at {client.url} within {within:.0f}s")


async def _watch(client: AsyncClient, open_jobs: set[str], states: Counter[str]) -> None:
    """Polls a bounded sample of unfinished jobs; runs beside submission so neither slows the other."""
    while True:
        sample = list(open_jobs)[:200]
        views = await asyncio.gather(*(client.get(j) for j in sample), return_exceptions=True)
        for view in views:
            if isinstance(view, JobView) and view.state in TERMINAL:
                states[view.state] += 1
                open_jobs.discard(view.id)
        await asyncio.sleep(0.5)


async def _submit(client: AsyncClient, count: int) -> list[str]:
    """The ids of the jobs admitted out of ``count`` picked from the mix (one request for all)."""
    if not count:
        return []
    try:
        results = await client.submit_many(pick() for _ in range(count))
    except LaneyardError:
        return []  # the next tick tries again; the demo goes on through a blip
    return [r.id for r in results if isinstance(r, Job)]


async def _demo(base_url: str, rate: float, total: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    open_jobs: set[str] = set()
    states: Counter[str] = Counter()
    submitted = 0
    async with AsyncClient(base_url) as client:
        await _wait_ready(client)
        print(f"demo: submitting {rate:g} jobs/s to {base_url}", flush=True)
        watcher = asyncio.create_task(_watch(client, open_jobs, states))
        started = time.monotonic()
        next_print = started + 1.0
        for tick in itertools.count():
            if stop.is_set() or (total and submitted >= total and not open_jobs):
                break
            want = int((tick + 1) * rate / 10) - int(tick * rate / 10)
            if total:
                want = min(want, total - submitted)
            admitted = await _submit(client, want)
            open_jobs.update(admitted)
            submitted += len(admitted)
            if time.monotonic() >= next_print:
                next_print += 1.0
                elapsed = time.monotonic() - started
                print(
                    f"demo: {elapsed:6.1f}s  submitted {submitted:6d}  completed {states['COMPLETED']:6d}  "
                    f"error {states['ERROR']:4d}  unfinished {len(open_jobs):5d}",
                    flush=True,
                )
            # Paced against the clock, so slow replies do not lower the submission rate.
            await asyncio.sleep(max(0.0, started + (tick + 1) / 10 - time.monotonic()))
        watcher.cancel()
    return 0


def run_demo(base_url: str, *, rate: float, total: int) -> int:
    return asyncio.run(_demo(base_url, rate, total))
