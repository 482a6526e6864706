"""Sub-tasks: a parent completes once its children have, on two clusters, with real processes."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.broker import delete_queues
from tests.support.stack import Stack
from tests.support.waiting import wait_terminal

pytestmark = pytest.mark.e2e


async def two_clusters(stack: Stack, client: httpx.AsyncClient) -> str:
    made = await client.post("/v1/clusters", json={"name": "second"})
    assert made.status_code == 201, made.text
    return str(made.json()["slug"])


async def spawn(client: httpx.AsyncClient, children: list[dict[str, object]]) -> str:
    body = {"task": "e2e.parent", "args": {"children": children}, "tier": "TINY"}
    reply = await client.post("/v1/jobs", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["id"])


async def children_of(db: Database, parent_id: str) -> dict[str, dict[str, object]]:
    return {d["_id"]: d async for d in db["jobs"].find({"parent_id": parent_id})}


async def test_a_parent_completes_after_its_children_on_two_clusters(
    stack: Stack, settings: Settings, db: Database, bus: Bus, tmp_path: Path
) -> None:
    stack.add("admission"), stack.add("dispatcher")
    stack.add("runner", "--slots", "2")
    await asyncio.to_thread(stack.wait_ready)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        second = await two_clusters(stack, client)
        stack.add("runner", "--slots", "2", "--cluster", second)
        started = time.monotonic()
        parent = await spawn(
            client,
            [
                {"cluster": "default", "sleep": 0.3},
                {"cluster": second, "sleep": 1.0},
                {"cluster": second, "sleep": 0.1},
            ],
        )
        # An optional child may fail without failing its parent.
        lenient = await spawn(
            client, [{"cluster": second}, {"cluster": "default", "fail": True, "optional": True}]
        )
        docs = await wait_terminal(db, {parent, lenient}, within=60)
        print(f"\nparent with 3 children on 2 clusters done in {time.monotonic() - started:.1f}s")
        children = await children_of(db, parent)
        assert len(children) == 3

        done = docs[parent]
        assert done["state"] == "COMPLETED", done
        assert done["attempt"] == 1 and "AWAITING_SUBTASKS" in done["timeline"]["1"]
        assert set(done["result"]["children"]) == set(children)
        parent_end = done["timeline"]["1"]["COMPLETED"]
        for child in children.values():
            assert child["state"] == "COMPLETED" and child["parent_id"] == parent
            assert child["timeline"]["1"]["COMPLETED"] <= parent_end
            result = child["result"]
            assert isinstance(result, dict) and result["cluster"] == child["cluster"]
        assert sorted(str(c["cluster"]) for c in children.values()) == sorted(["default", second, second])
        # Each ran on its own cluster's runner: the default one ran the parent too.
        runners = {cl: {c["runner"] for c in children.values() if c["cluster"] == cl}
                   for cl in ("default", second)}  # fmt: skip
        assert runners["default"] == {done["runner"]} and not runners[second] & runners["default"]
        # The parent's own function ended long before its slowest child: it held no slot meanwhile.
        awaiting_since = float(done["timeline"]["1"]["AWAITING_SUBTASKS"])
        assert awaiting_since < max(float(c["timeline"]["1"]["COMPLETED"]) for c in children.values())

        view = (await client.get(f"/v1/jobs/{parent}")).json()
        assert view["subtasks"] == done["result"]["children"] and view["awaiting_subtasks"] is False
        child_view = (await client.get(f"/v1/jobs/{view['subtasks'][0]}")).json()
        assert child_view["parent_id"] == parent and child_view["subtasks"] == []

        assert docs[lenient]["state"] == "COMPLETED"
        states = sorted(str(c["state"]) for c in (await children_of(db, lenient)).values())
        assert states == ["COMPLETED", "ERROR"]
    await delete_queues(settings, bus.names.cluster_queue(second), bus.names.lane_queue("main", second))


async def test_a_failing_child_fails_its_parent(
    stack: Stack, settings: Settings, db: Database, bus: Bus
) -> None:
    stack.add("admission"), stack.add("dispatcher")
    stack.add("runner", "--slots", "4")
    await asyncio.to_thread(stack.wait_ready)
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        parent = await spawn(
            client,
            [
                {"cluster": "default", "sleep": 0.2},
                {"cluster": "default", "fail": True},
                {"cluster": "default", "sleep": 3},
            ],
        )
        done = (await wait_terminal(db, {parent}, within=60))[parent]
        assert done["state"] == "ERROR" and done["reason"] == "subtask failed"
        children = await children_of(db, parent)
        failed = [cid for cid, c in children.items() if c["state"] == "ERROR"]
        assert len(failed) == 1 and done["error"] == f"subtask {failed[0]} ended ERROR"
        # It failed at once, without waiting for its slow child.
        [slow] = [c for c in children.values() if c["args"]["sleep"] == 3]
        slow_end = slow["timeline"]["1"].get("COMPLETED", float("inf"))
        assert slow_end > done["timeline"]["1"]["ERROR"]
        view = (await client.get(f"/v1/jobs/{parent}")).json()
        assert len(view["subtasks"]) == 3 and view["reason"] == "subtask failed"
        # A sub-task that fails after its last attempt is dead-lettered like any other job.
        listed = (await client.get("/v1/dead-letters", params={"source": "runner"})).json()["items"]
        assert [d["job_id"] for d in listed] == failed
