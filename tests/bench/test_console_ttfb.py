"""The console with 100,000 jobs in the database: time to first byte of the jobs list, its next
page, a filtered list and the overview. Printed, not asserted (``make bench``)."""

from __future__ import annotations

import os
import re
import statistics
import time

import httpx
import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.ids import new_job_id
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.store.jobs import new_job_doc
from tests.support.admission import served

pytestmark = pytest.mark.bench
JOBS = int(os.environ.get("LANEYARD_CONSOLE_BENCH_JOBS", "100000"))
STATES = ("COMPLETED", "COMPLETED", "COMPLETED", "ERROR", "IN_QUEUE")


async def seed(db: Database, count: int) -> None:
    start = time.time() - count * 0.01
    batch = []
    for i in range(count):
        job = JobMessage(
            id=new_job_id(), task=f"bench.task{i % 20}", args={"n": i}, lane=("main", "bulk")[i % 2],
            cluster="default", priority=5, tier="TINY", max_execution_time=60, submitted_at=start + i * 0.01,
        )  # fmt: skip
        doc = new_job_doc(job, now=start + i * 0.01)
        doc["state"] = STATES[i % len(STATES)]
        batch.append(doc)
        if len(batch) == 5000:
            await db["jobs"].insert_many(batch)
            batch = []
    if batch:
        await db["jobs"].insert_many(batch)


async def ttfb(client: httpx.AsyncClient, path: str) -> tuple[float, float, str]:
    """Seconds to the first byte of the body, to the whole page, and the page."""
    began = time.perf_counter()
    async with client.stream("GET", path) as reply:
        chunks = reply.aiter_bytes()
        first = await anext(chunks)
        first_at = time.perf_counter() - began
        body = first + b"".join([c async for c in chunks])
    assert reply.status_code == 200, body[:300]
    return first_at, time.perf_counter() - began, body.decode()


async def test_console_pages_with_100k_jobs(settings: Settings, db: Database, bus: Bus) -> None:
    took = time.perf_counter()
    await seed(db, JOBS)
    print(f"\nseeded {JOBS} jobs in {time.perf_counter() - took:.1f} s")
    async with served(settings, db, bus) as url, httpx.AsyncClient(base_url=url, timeout=120) as client:
        first_page = (await ttfb(client, "/ui/jobs"))[2]
        cursor = re.search(r'cursor=([A-Za-z0-9_-]+)" rel="next"', first_page)
        assert cursor, "the first page links no next page"
        for name, path in [
            ("jobs list", "/ui/jobs"),
            ("next page", f"/ui/jobs?cursor={cursor.group(1)}"),
            ("state=ERROR", "/ui/jobs?state=ERROR"),
            ("task filter", "/ui/jobs?task=bench.task7"),
            ("live partial", "/ui/partials/jobs"),
            ("overview", "/ui"),
        ]:
            runs = [await ttfb(client, path) for _ in range(5)]
            firsts = [r[0] * 1000 for r in runs]
            wholes = [r[1] * 1000 for r in runs]
            print(
                f"{name:>13}: time to first byte median {statistics.median(firsts):7.1f} ms "
                f"(min {min(firsts):.1f}, max {max(firsts):.1f}), "
                f"whole page {statistics.median(wholes):7.1f} ms"
            )
