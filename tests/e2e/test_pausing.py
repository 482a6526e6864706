"""Pausing, with the three services running as real processes: a paused lane accepts jobs but
dispatches none while other lanes run, and drains once resumed; a paused cluster lets its running
jobs finish and starts no new one."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database
from tests.support.stack import Stack
from tests.support.waiting import wait_state, wait_terminal

pytestmark = pytest.mark.e2e

HELD_SECONDS = 10.0


def count(lane: str, sleep: float = 0.0) -> dict[str, object]:
    return {"task": "e2e.count", "args": {"sleep": sleep}, "tier": "TINY", "lane": lane}


async def submit(client: httpx.AsyncClient, body: dict[str, object]) -> str:
    reply = await client.post("/v1/jobs", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["id"])


async def states(db: Database, ids: list[str]) -> set[str]:
    return {str((await jobs.get(db, job_id) or {}).get("state")) for job_id in ids}


async def test_a_paused_lane_dispatches_nothing_while_another_runs_then_drains(
    stack: Stack, db: Database
) -> None:
    stack.add("admission"), stack.add("dispatcher"), stack.add("runner", "--slots", "4")
    await asyncio.to_thread(stack.wait_ready)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        paused = await client.post("/v1/lanes/held/pause", params={"cluster": "default"})
        assert paused.status_code == 200 and paused.json()["paused"] is True, paused.text
        held = [await submit(client, count("held")) for _ in range(6)]
        started = time.monotonic()
        ran = []
        # For HELD_SECONDS, lane main goes on running jobs while every job of lane held stays queued.
        while time.monotonic() - started < HELD_SECONDS:
            ran.append(await submit(client, count("main")))
            await wait_terminal(db, {ran[-1]}, within=30)
            assert await states(db, held) == {"IN_QUEUE"}
            await asyncio.sleep(0.5)
        assert await states(db, held) == {"IN_QUEUE"}
        done = await wait_terminal(db, set(ran), within=30)
        assert {d["state"] for d in done.values()} == {"COMPLETED"} and len(ran) >= 5

        rows = {(r["lane"], r["cluster"]): r for r in (await client.get("/v1/status")).json()["lanes"]}
        assert rows[("held", "default")]["paused"] is True and rows[("held", "default")]["queued"] == 6
        assert "paused" not in rows[("main", "default")]

        resumed = await client.post("/v1/lanes/held/resume", params={"cluster": "default"})
        assert resumed.status_code == 200 and resumed.json()["paused"] is False
        drained = await wait_terminal(db, set(held), within=60)
        assert {d["state"] for d in drained.values()} == {"COMPLETED"}
        rows = {(r["lane"], r["cluster"]): r for r in (await client.get("/v1/status")).json()["lanes"]}
        assert "paused" not in rows[("held", "default")]


async def test_a_paused_cluster_finishes_its_running_jobs_and_starts_no_new_one(
    stack: Stack, db: Database
) -> None:
    stack.add("admission"), stack.add("dispatcher"), stack.add("runner", "--slots", "4")
    await asyncio.to_thread(stack.wait_ready)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        running = await submit(client, count("main", sleep=2.0))
        await wait_state(db, running, "RUNNING", within=30)
        assert (await client.post("/v1/clusters/default/pause")).status_code == 200
        waiting = [await submit(client, count(lane)) for lane in ("main", "other")]
        finished = await wait_terminal(db, {running}, within=30)
        assert finished[running]["state"] == "COMPLETED"  # running jobs go on
        await asyncio.sleep(1.0)  # past the finished job's freed capacity: still nothing starts
        assert await states(db, waiting) == {"IN_QUEUE"}
        status = (await client.get("/v1/status")).json()
        assert status["clusters"]["default"]["paused"] is True
        assert {row.get("paused") for row in status["lanes"]} == {True}

        assert (await client.post("/v1/clusters/default/resume")).status_code == 200
        drained = await wait_terminal(db, set(waiting), within=60)
        assert {d["state"] for d in drained.values()} == {"COMPLETED"}
