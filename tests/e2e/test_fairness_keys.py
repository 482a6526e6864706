"""Fairness keys with the three services running as real processes: a key that arrives behind
another key's backlog is not made to wait for that backlog (docs/fairness.md)."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import httpx
import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.fairness import delete_shards, distinct_keys
from tests.support.stack import Stack
from tests.support.waiting import run_interval, wait_started, wait_terminal

pytestmark = pytest.mark.e2e

SHARDS = 8
# Key A's backlog: 400 in the suite; the figure is taken with LANEYARD_FAIR_A_JOBS=10000.
A_JOBS = int(os.environ.get("LANEYARD_FAIR_A_JOBS", "400"))


async def submit_batch(client: httpx.AsyncClient, bodies: list[dict[str, object]]) -> list[str]:
    reply = await client.post("/v1/jobs/batch", json={"jobs": bodies})
    assert reply.status_code in (202, 207), reply.text
    items = reply.json()["jobs"]
    assert all(item["status"] == 202 for item in items), items
    return [str(item["id"]) for item in items]


async def test_a_key_behind_another_keys_backlog_starts_within_a_few_of_its_jobs(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    settings = settings.model_copy(update={"fairness_shards": SHARDS})
    a, b = distinct_keys(2, SHARDS)
    stack = Stack(settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"})
    job = {"task": "e2e.count", "args": {"sleep": 0.02}, "tier": "TINY"}
    try:
        stack.add("admission"), stack.add("dispatcher"), stack.add("runner", "--slots", "2")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            a_ids: list[str] = []
            for start in range(0, A_JOBS, 500):
                a_ids += await submit_batch(client, [{**job, "fairness_key": a}] * min(500, A_JOBS - start))
            await wait_started(db, a_ids[0], within=30)
            b_submitted = time.time()
            b_ids = await submit_batch(client, [{**job, "fairness_key": b}] * 10)
        b_docs = await wait_terminal(db, set(b_ids), within=120)
        b_last_start = max(run_interval(d)[0] for d in b_docs.values())
        a_docs = {d["_id"]: d async for d in db["jobs"].find({"_id": {"$in": a_ids}})}
        a_starts = [(d.get("timeline") or {}).get("1", {}).get("RUNNING") for d in a_docs.values()]
        a_between = sum(1 for at in a_starts if at is not None and b_submitted <= float(at) <= b_last_start)
        print(f"\n{len(a_ids):,} jobs of key A queued, then 10 of key B: {a_between} of A's started "
              "after B's submission and before B's last start")  # fmt: skip
        assert a_between < 100
    finally:
        stack.stop()
        await delete_shards(settings)
