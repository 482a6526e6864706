"""Cancelling a running job stops it wherever it runs: a Python task, a subprocess task and a
process=True task."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.stack import Stack
from tests.support.waiting import wait_state

pytestmark = pytest.mark.e2e


async def test_a_running_job_is_cancelled_within_a_second(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    stack = Stack(settings, tmp_path)
    try:
        stack.add("admission"), stack.add("dispatcher"), stack.add("runner"), stack.add("runner")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            for task in ("demo.sleep", "demo.script", "demo.cpu"):
                reply = await client.post(
                    "/v1/jobs", json={"task": task, "args": {"seconds": 60}, "tier": "TINY"}
                )
                job_id = reply.json()["id"]
                await wait_state(db, job_id, "RUNNING", within=30)
                asked = time.monotonic()
                reply = await client.post(f"/v1/jobs/{job_id}/cancel")
                assert reply.status_code == 202, reply.text
                await wait_state(db, job_id, "CANCELLED", within=10)
                took = time.monotonic() - asked
                doc = (await client.get(f"/v1/jobs/{job_id}")).json()
                print(f"\n{task}: RUNNING -> CANCELLED {took:.2f}s after the request")
                assert doc["reason"] == "cancelled on request"
                assert took < 5
    finally:
        stack.stop()
