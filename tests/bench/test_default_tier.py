"""`make bench`: how long a job submitted with every field left to its default (``{"task":
"demo.echo"}``: tier LARGE, priority 5, lane main) waits to start, on a stack as a user gets it
(one admission, one dispatcher, one runner with no --cpu/--slots/--memory, and the default delay
ladder and heartbeat), first idle, then while ``laneyard demo`` runs its mix beside it.

Each run submits LANEYARD_BENCH_DEFAULT_JOBS (200) such jobs one request each through
``AsyncClient``, paced evenly over LANEYARD_BENCH_DEFAULT_SECONDS (20), and reads submit-to-start
(RUNNING - IN_QUEUE of the first attempt), split into dispatch (WAITING - IN_QUEUE) and handover
(RUNNING - WAITING). The demo is ``python -m laneyard.services.cli demo --rate R`` as a process of
its own, R = LANEYARD_BENCH_DEMO_RATE (20, what ``laneyard up`` runs), started a few seconds before
the jobs and stopped once they have all ended.

A runner offers the machine's cores: on 2 cores, 2,000 millicores, of which the dispatcher books
up to 95%, so three LARGE jobs (512 m each) run at once; a job that finds no room goes through
the delay queues, whose delay doubles up to LANEYARD_DELAY_MAX_MS (30 s).
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

import pytest

from laneyard.client import AsyncClient
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.bench.harness import cpu_seconds, percentile, stamps, submit_paced, terminal_docs, wait_all
from tests.bench.report import REPORT, ms
from tests.support.broker import delete_topology
from tests.support.stack import Service, Stack

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1200)]

JOBS = int(os.environ.get("LANEYARD_BENCH_DEFAULT_JOBS", "200"))
SECONDS = float(os.environ.get("LANEYARD_BENCH_DEFAULT_SECONDS", "20"))
DEMO_RATE = float(os.environ.get("LANEYARD_BENCH_DEMO_RATE", "20"))
WAIT = 300.0  # seconds for a run's jobs to end, after the last was submitted
DEFAULT_JOB: dict[str, object] = {"task": "demo.echo"}
TITLE = "Default-tier jobs ({'task': 'demo.echo'}: LARGE, p5, lane main), runner with default settings"
# What the tests' settings fixture sets for speed or size that a user's stack does not: set back.
USER_DEFAULTS = (
    "runner_cpu_millicores",
    "runner_memory_mib",
    "runner_slots",
    "delay_min_ms",
    "delay_max_ms",
    "heartbeat_seconds",
    "capacity_threshold",
    "reservation_after_seconds",
)


def as_a_user_has_it(settings: Settings) -> Settings:
    """The test's isolation (broker, database, prefix, port) with every scheduling setting and the
    runner's offer at their defaults (the runner's cores and memory are this machine's)."""
    defaults = {
        name: Settings.model_fields[name].get_default(call_default_factory=True) for name in USER_DEFAULTS
    }
    return settings.model_copy(update={**defaults, "log_level": "WARNING"})


def demo_progress(service: Service) -> tuple[int, int, int]:
    """The demo's last progress line: submitted, completed, error."""
    text = service.log_path.read_text(errors="replace") if service.log_path.exists() else ""
    found = re.findall(r"submitted +(\d+) +completed +(\d+) +error +(\d+)", text)
    return tuple(int(x) for x in found[-1]) if found else (0, 0, 0)  # type: ignore[return-value]


async def measure(client: AsyncClient, label: str, stack: Stack, demo: Service | None) -> None:
    print(f"{label}: {JOBS} default jobs over {SECONDS:.0f}s", flush=True)
    pids = [s.proc.pid for s in stack.services if s.proc is not None and s.proc.poll() is None]
    demo_before = demo_progress(demo) if demo is not None else None
    cpu_before, t0 = sum(map(cpu_seconds, pids)), time.monotonic()
    ids, sent = await submit_paced(client, [dict(DEFAULT_JOB) for _ in range(JOBS)], JOBS / SECONDS)
    submitted_in = time.monotonic() - t0
    docs = terminal_docs(await wait_all([client], ids, within=WAIT, label=label))
    ended_in = time.monotonic() - t0
    busy = (sum(map(cpu_seconds, pids)) - cpu_before) / ended_in
    s = stamps(docs)
    completed = sum(d["state"] == "COMPLETED" for d in docs.values())
    row = {
        "load": label,
        "jobs": f"{JOBS:,}",
        "sent /s": f"{sent:,.1f}",
        "start p50 ms": ms(percentile(s.submit_to_start, 50)),
        "start p95 ms": ms(percentile(s.submit_to_start, 95)),
        "start p99 ms": ms(percentile(s.submit_to_start, 99)),
        "start max ms": ms(max(s.submit_to_start, default=float("nan"))),
        "dispatch p95 ms": ms(percentile(s.dispatch, 95)),
        "handover p95 ms": ms(percentile(s.handover, 95)),
        "completed": f"{completed:,}/{JOBS:,}",
        "all ended after s": f"{ended_in:,.1f}",
        "stack cpu": f"{100 * busy:,.0f}%",
    }
    if demo is not None and demo_before is not None:
        after = demo_progress(demo)
        row["demo jobs meanwhile"] = f"{after[0] - demo_before[0]:,} sent, {after[1] - demo_before[1]:,} done"
    REPORT.add(TITLE, row)
    print("  " + ", ".join(f"{k} {v}" for k, v in row.items()), flush=True)
    print(f"  (submissions took {submitted_in:.1f}s)", flush=True)


async def test_default_tier_submit_to_start_idle_and_beside_the_demo(
    settings: Settings,
    tmp_path: Path,
    db: Database,  # the test's database, dropped after it
) -> None:
    user = as_a_user_has_it(settings)
    stack = Stack(user, tmp_path)
    client = AsyncClient(stack.url)
    try:
        stack.add("admission"), stack.add("dispatcher"), stack.add("runner")
        await asyncio.to_thread(stack.wait_ready)
        # Measured from a warm stack: the runner has reported to the dispatcher (it does so every
        # heartbeat), so the first jobs do not wait for a runner to appear.
        for _ in range(300):
            status = await client.status()
            if any(c.runners.idle + c.runners.busy for c in status.clusters.values()):
                break
            await asyncio.sleep(0.2)
        await asyncio.sleep(user.heartbeat_seconds)
        print(
            f"\nrunner offers {user.runner_cpu_millicores} m, {user.runner_memory_mib} MiB, "
            f"{user.runner_slots} slots; delays {user.delay_min_ms}-{user.delay_max_ms} ms",
            flush=True,
        )
        await measure(client, "idle", stack, None)
        demo = stack.add("demo", "--url", stack.url, "--rate", f"{DEMO_RATE:g}")
        await asyncio.sleep(5.0)  # the demo waits for admission, then its mix reaches a steady flow
        await measure(client, f"demo at {DEMO_RATE:g}/s", stack, demo)
        demo.signal(signal.SIGINT)
        await asyncio.to_thread(demo.wait, 15)
        sent, done, failed = demo_progress(demo)
        REPORT.note(
            TITLE,
            f"runner offer {user.runner_cpu_millicores} m / {user.runner_memory_mib:,} MiB / "
            f"{user.runner_slots} slots (this machine's, no overrides), capacity threshold "
            f"{user.capacity_threshold:g}, delays {user.delay_min_ms:,}-{user.delay_max_ms:,} ms. "
            f"The demo sent {sent:,} jobs in all, {done:,} completed, {failed:,} failed (demo.fail "
            "fails on purpose). 'stack cpu' is admission + dispatcher + runner (+ demo) CPU over the run, "
            "% of one core.",
        )
    finally:
        await client.aclose()
        stack.stop()
        # The autouse clean_broker fixture knows the fixture's delay ladder, not the default one.
        await delete_topology(user)
