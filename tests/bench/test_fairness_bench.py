"""The dispatcher's throughput and memory with fairness keys, next to one key (docs/fairness.md).

A backlog of no-op TINY jobs is published straight into the lane, with no key (today's single
lane queue) and then with ``LANEYARD_FAIR_BENCH_KEYS`` distinct fairness keys (10,000, hashed into
the lane's shards); one dispatcher and one runner with 128 slots then drain it. Printed: how fast
the backlog drains (jobs dispatched per second) and the dispatcher's resident memory while the
whole backlog is queued. ``LANEYARD_FAIR_BENCH_JOBS`` sets the backlog (1,000,000).
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
from tests.bench.test_backlog_memory import rss_mib
from tests.support.broker import delete_queues
from tests.support.stack import Stack

pytestmark = [pytest.mark.bench, pytest.mark.timeout(3600)]

JOBS = int(os.environ.get("LANEYARD_FAIR_BENCH_JOBS", "1000000"))
KEYS = int(os.environ.get("LANEYARD_FAIR_BENCH_KEYS", "10000"))
DRAIN_SECONDS = float(os.environ.get("LANEYARD_FAIR_BENCH_DRAIN_SECONDS", "20"))
BATCH = 2000


async def publish(bus: Bus, lane: str, total: int, keys: int) -> float:
    """``total`` jobs, round-robin over ``keys`` fairness keys (0: none), straight into the lane."""
    connection = await aio_pika.connect(bus.settings.amqp_url)
    started = time.monotonic()
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(bus.names.lanes_exchange)
        sent = 0
        while sent < total:
            jobs = [
                JobMessage(id=f"{lane}{sent + i}", task="demo.noop", args={}, lane=lane, cluster="default",
                           priority=5, tier="TINY", max_execution_time=60,
                           fairness_key=f"tenant:{(sent + i) % keys}" if keys else None)
                for i in range(min(BATCH, total - sent))
            ]  # fmt: skip
            await asyncio.gather(
                *(
                    exchange.publish(
                        aio_pika.Message(j.model_dump_json().encode(), delivery_mode=2, priority=5),
                        bus.lane_route(j),
                        timeout=60,
                    )
                    for j in jobs
                )
            )
            sent += len(jobs)
    return time.monotonic() - started


def queue_names(bus: Bus, lane: str) -> list[str]:
    shards = range(bus.settings.fairness_shards)
    return [
        bus.names.lane_queue(lane, "default"),
        *(bus.names.lane_shard_queue(lane, "default", s) for s in shards),
    ]


async def depth(bus: Bus, lane: str, keys: int) -> int:
    """Ready messages in the lane's queues. Through a plain connection: a robust channel answers a
    repeated passive declare from its cache, with the count of the first one."""
    names = queue_names(bus, lane)[: None if keys else 1]
    total = 0
    connection = await aio_pika.connect(bus.settings.amqp_url, timeout=10)
    async with connection:
        channel = await connection.channel()
        for name in names:
            queue = await asyncio.wait_for(channel.declare_queue(name, passive=True), 10)
            total += int(queue.declaration_result.message_count or 0)
    return total


async def run(settings: Settings, tmp_path: Path, db: Database, bus: Bus, keys: int) -> dict[str, str]:
    lane = "fair" if keys else "single"
    await bus.topology.lane_queue(lane, "default")
    for shard in range(settings.fairness_shards if keys else 0):
        await bus.topology.lane_shard_queue(lane, "default", shard)
    await lanes.register(db, lane, "default", fair=bool(keys))
    took = await publish(bus, lane, JOBS, keys)
    (tmp_path / lane).mkdir(exist_ok=True)
    stack = Stack(settings.model_copy(update={"heartbeat_seconds": 2.0}), tmp_path / lane)
    try:
        stack.add("runner", "--slots", "128", "--cpu", "64000", "--memory", "65536")
        full = await depth(bus, lane, keys)
        dispatcher = stack.add("dispatcher")
        # The clock starts at the first job taken, so start-up is not counted as slowness; a small
        # backlog may drain before the window ends, which is why the rate is taken over what moved.
        before = full
        for _ in range(1200):  # a minute at most
            before = await depth(bus, lane, keys)
            if before < full:
                break
            await asyncio.sleep(0.05)
        at = time.monotonic()
        rss = [rss_mib(dispatcher)]
        after = before
        for _ in range(10):
            await asyncio.sleep(DRAIN_SECONDS / 10)
            rss.append(rss_mib(dispatcher))
            after = await depth(bus, lane, keys)
            if after == 0:
                break
        took_drain = time.monotonic() - at
    finally:
        stack.stop()
    rate = (before - after) / took_drain
    label = (
        f"{keys:,} fairness keys ({settings.fairness_shards} shards)" if keys else "no key (one lane queue)"
    )
    print(f"\n{label}: published {JOBS:,} at {JOBS / took:,.0f}/s; dispatched {rate:,.0f} jobs/s "
          f"with {before:,} queued; dispatcher RSS {min(rss):.1f}-{max(rss):.1f} MiB")  # fmt: skip
    return {
        "workload": label,
        "jobs queued": f"{JOBS:,}",
        "dispatched /s": f"{rate:,.0f}",
        "dispatcher RSS MiB": f"{min(rss):.1f}-{max(rss):.1f}",
    }


async def test_fairness_keys_against_one_key(
    settings: Settings, tmp_path: Path, db: Database, bus: Bus
) -> None:
    rows = []
    try:
        for keys in (0, KEYS):
            rows.append(await run(settings, tmp_path, db, bus, keys))
    finally:
        await delete_queues(settings, *queue_names(bus, "single"), *queue_names(bus, "fair"))
    for row in rows:
        REPORT.add("Fairness keys: dispatch throughput and memory, 1 dispatcher, 1 runner (128 slots)", row)
