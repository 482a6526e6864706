"""A runner killed with SIGKILL mid-task loses no job: each of its jobs runs again on another runner
of the cluster, or ends ERROR "runner lost" when its retries are used up; never both, never twice
after finishing; and a SIGTERMed runner lets short tasks finish and hands the rest back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from shared.settings import Settings
from shared.store.database import Database
from tests.support.stack import Stack
from tests.support.waiting import TERMINAL, wait_state, wait_terminal

pytestmark = pytest.mark.e2e


def make_stack(settings: Settings, tmp_path: Path) -> Stack:
    return Stack(settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"})


async def submit(client: httpx.AsyncClient, body: dict[str, object]) -> str:
    reply = await client.post("/v1/jobs", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["id"])


async def test_a_sigkilled_runner_loses_no_job(settings: Settings, tmp_path: Path, db: Database) -> None:
    stack = make_stack(settings, tmp_path)
    try:
        stack.add("admission"), stack.add("dispatcher")
        victim = stack.add("runner", "--slots", "4")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            # Some finish before the kill, the long ones are mid-task when it comes.
            quick = [await submit(client, {"task": "e2e.count", "tier": "TINY"}) for _ in range(4)]
            await wait_terminal(db, set(quick), within=30)
            body = {"task": "e2e.count", "args": {"sleep": 3.0}, "tier": "TINY"}
            retried = [await submit(client, {**body, "max_retries": 1}) for _ in range(2)]
            lost = [await submit(client, {**body, "max_retries": 0}) for _ in range(2)]
        for j in retried + lost:
            await wait_state(db, j, "RUNNING", within=30)
        stack.add("runner", "--slots", "4")  # the survivor, started only now so the victim has them all
        await asyncio.sleep(1.0)
        assert victim.proc is not None
        os.kill(victim.proc.pid, signal.SIGKILL)
        killed_at = time.time()
        docs = await wait_terminal(db, set(quick + retried + lost), within=60)
        states = {j: docs[j]["state"] for j in docs}
        assert all(s in TERMINAL for s in states.values()), states
        assert [states[j] for j in retried] == ["COMPLETED", "COMPLETED"]
        assert [(states[j], docs[j]["reason"]) for j in lost] == [("ERROR", "runner lost")] * 2
        executions = Counter([d["job_id"] async for d in db["executions"].find({}, {"job_id": 1})])
        assert all(executions[j] == 1 for j in quick), "a job that had finished ran again"
        assert all(executions[j] == 2 for j in retried) and all(executions[j] == 1 for j in lost)
        for j in retried:
            assert docs[j]["result"]["execution"] and docs[j]["attempt"] == 2
        recovered = max(
            float(docs[j]["timeline"][str(docs[j]["attempt"])].get("RUNNING", killed_at)) for j in retried
        )
        ended = max(float(docs[j]["timeline"]["1"]["ERROR"]) for j in lost)
        print(
            f"\nafter SIGKILL: retried jobs running again after {recovered - killed_at:.1f}s, "
            f"jobs out of retries marked ERROR after {ended - killed_at:.1f}s "
            f"(heartbeat {settings.heartbeat_seconds}s x {settings.heartbeat_misses})"
        )
    finally:
        stack.stop()


async def test_sigterm_lets_short_tasks_finish_and_hands_long_ones_back(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    stack = make_stack(settings.model_copy(update={"shutdown_grace_seconds": 2.0}), tmp_path)
    try:
        stack.add("admission"), stack.add("dispatcher")
        leaving = stack.add("runner", "--slots", "4")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            short = await submit(client, {"task": "e2e.count", "args": {"sleep": 1.0}, "tier": "TINY"})
            long = await submit(client, {"task": "e2e.count", "args": {"sleep": 6.0}, "tier": "TINY"})
        for j in (short, long):
            await wait_state(db, j, "RUNNING", within=30)
        leaving.signal(signal.SIGTERM)
        assert await asyncio.to_thread(leaving.wait, 30) == 0
        short_doc = await db["jobs"].find_one({"_id": short})
        long_doc = await db["jobs"].find_one({"_id": long})
        assert short_doc is not None and short_doc["state"] == "COMPLETED"
        assert long_doc is not None and long_doc["state"] in ("IN_QUEUE", "WAITING")
        stack.add("runner", "--slots", "4")
        docs = await wait_terminal(db, {long}, within=60)
        assert docs[long]["state"] == "COMPLETED"
    finally:
        stack.stop()
