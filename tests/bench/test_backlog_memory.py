"""The dispatcher's memory with a huge backlog that does not fit (issue 4: "memory stays flat with
1,000,000 jobs queued").

A runner offers 1000m; the backlog is LARGE jobs (1500m each) that can never fit, the worst case:
the lane is not paused for good (a TINY job would fit) so the dispatcher keeps taking the head of
the lane on every capacity change and sends it through the delay queues. The backlog must stay in
RabbitMQ: the dispatcher's resident memory is sampled while the backlog grows to its full size and
for a while after. Run with ``make bench``; ``LANEYARD_BACKLOG_JOBS`` sets the size (1,000,000).
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import aio_pika
import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import lanes
from laneyard.shared.store.database import Database
from tests.bench.report import REPORT
from tests.support.stack import Service, Stack

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]

JOBS = int(os.environ.get("LANEYARD_BACKLOG_JOBS", "1000000"))
HOLD_SECONDS = float(os.environ.get("LANEYARD_BACKLOG_HOLD_SECONDS", "30"))
BATCH = 2000


def rss_mib(service: Service) -> float:
    assert service.proc is not None
    for line in Path(f"/proc/{service.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def publish_backlog(settings: Settings, bus: Bus, total: int, on_batch: object) -> float:
    await bus.topology.lane_queue("main", "default")
    connection = await aio_pika.connect(settings.amqp_url)
    started = time.monotonic()
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(bus.names.lanes_exchange)
        key = bus.names.lane_key("main", "default")
        sent = 0
        while sent < total:
            n = min(BATCH, total - sent)
            bodies = [
                JobMessage(id=f"b{sent + i}", task="demo.noop", args={}, lane="main", cluster="default",
                           priority=5, tier="LARGE", max_execution_time=60).model_dump_json().encode()
                for i in range(n)
            ]  # fmt: skip
            await asyncio.gather(
                *(
                    exchange.publish(aio_pika.Message(b, delivery_mode=2, priority=5), key, timeout=60)
                    for b in bodies
                )
            )
            sent += n
            assert callable(on_batch)
            on_batch(sent)
    return time.monotonic() - started


async def test_dispatcher_memory_stays_flat_with_a_huge_backlog(
    settings: Settings, tmp_path: Path, db: Database, bus: Bus
) -> None:
    stack = Stack(settings.model_copy(update={"heartbeat_seconds": 2.0}), tmp_path)
    try:
        dispatcher = stack.add("dispatcher")
        stack.add("runner", "--slots", "4", "--cpu", "1000", "--memory", "4096")
        await lanes.register(db, "main", "default")
        await asyncio.sleep(3)
        samples: list[tuple[str, int, float]] = [("start", 0, rss_mib(dispatcher))]
        marks = {JOBS * k // 10 for k in range(1, 11)}

        def on_batch(sent: int) -> None:
            if any(sent >= m > sent - BATCH for m in marks):
                samples.append(("publishing", sent, rss_mib(dispatcher)))

        took = await publish_backlog(settings, bus, JOBS, on_batch)
        print(f"\npublished {JOBS} jobs into one lane in {took:.1f}s ({JOBS / took:,.0f}/s)")
        held_from = time.monotonic()
        while time.monotonic() - held_from < HOLD_SECONDS:
            await asyncio.sleep(HOLD_SECONDS / 5)
            samples.append((f"held {time.monotonic() - held_from:.0f}s", JOBS, rss_mib(dispatcher)))
        queue = await bus.topology.lane_queue("main", "default")
        ok = await queue.declare()
        print(f"lane depth at the end: {ok.message_count} (the rest cycles through the delay queues)")
        print(f"{'phase':<14}{'jobs queued':>12}{'dispatcher RSS MiB':>20}")
        for phase, sent, rss in samples:
            print(f"{phase:<14}{sent:>12,}{rss:>20.1f}")
        base = samples[1][2]
        peak = max(rss for _, _, rss in samples[1:])
        print(f"dispatcher RSS growth from the first 10% to the peak: {100 * (peak / base - 1):+.1f}%")
        REPORT.add(
            "Backlog: LARGE jobs that never fit, queued in one lane; dispatcher memory",
            {
                "jobs queued": f"{JOBS:,}",
                "published /s": f"{JOBS / took:,.0f}",
                "RSS MiB at start": f"{samples[0][2]:.1f}",
                "at 10%": f"{base:.1f}",
                "peak": f"{peak:.1f}",
                "growth 10% to peak": f"{100 * (peak / base - 1):+.1f}%",
            },
        )
    finally:
        stack.stop()
