"""A runner killed with SIGKILL mid-task loses no job: each of its jobs runs again on another runner
of the cluster, or ends ERROR "runner lost" when its retries are used up; never both, never finished
twice, none left RUNNING; and a SIGTERMed runner lets short tasks finish and hands the rest back."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database, Doc
from tests.support.stack import Stack
from tests.support.waiting import TERMINAL, wait_state, wait_terminal

pytestmark = pytest.mark.e2e


def make_stack(settings: Settings, tmp_path: Path) -> Stack:
    tasks = "tests.e2e.tasks,tests.e2e.runner_tasks"
    return Stack(settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": tasks})


async def submit(client: httpx.AsyncClient, body: dict[str, object]) -> str:
    reply = await client.post("/v1/jobs", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["id"])


async def running_on(db: Database, pid: int) -> list[Doc]:
    """The jobs a runner process holds (its id is host-pid-suffix)."""
    return [d async for d in db["jobs"].find({"state": "RUNNING"}) if f"-{pid}-" in str(d.get("runner"))]


async def test_a_sigkilled_runner_loses_no_job(settings: Settings, tmp_path: Path, db: Database) -> None:
    assert settings.heartbeat_seconds <= 0.5  # a lost runner is noticed within 1.5 s
    stack = make_stack(settings, tmp_path)
    try:
        stack.add("admission"), stack.add("dispatcher")
        victim = stack.add("runner", "--slots", "4")
        stack.add("runner", "--slots", "4")
        await asyncio.to_thread(stack.wait_ready)
        assert victim.proc is not None
        for _ in range(300):  # both runners offer capacity before the work comes
            if await db["runners"].count_documents({}) >= 2:
                break
            await asyncio.sleep(0.1)
        body = {"task": "e2e.work", "args": {"sleep": 1.0}, "tier": "TINY"}
        # Retries 1, 1, 0, 0, ...: the broker hands a cluster's messages to its two runners in
        # turn, so the victim gets jobs of both kinds.
        kinds = [1 - (i // 2) % 2 for i in range(40)]
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            ids = [await submit(client, {**body, "max_retries": k}) for k in kinds]
        retries = dict(zip(ids, kinds, strict=True))

        # Kill it once it holds jobs of both kinds, or 1 s after it first holds any.
        first_held: float | None = None
        give_up = time.monotonic() + 30
        while True:
            held = await running_on(db, victim.proc.pid)
            if held and first_held is None:
                first_held = time.monotonic()
            both = {retries[d["_id"]] for d in held} == {0, 1}
            if both or (first_held is not None and held and time.monotonic() > first_held + 1):
                break
            if time.monotonic() > give_up:
                states = Counter([(d["state"], d.get("runner")) async for d in db["jobs"].find({})])
                raise AssertionError(f"the victim {victim.proc.pid} never ran a job: {states}")
            await asyncio.sleep(0.05)
        os.kill(victim.proc.pid, signal.SIGKILL)
        killed_at = time.time()
        held = await running_on(db, victim.proc.pid)  # what it was running when it died

        docs = await wait_terminal(db, set(ids), within=60)
        states = Counter(d["state"] for d in docs.values())
        assert len(docs) == 40 and all(d["state"] in TERMINAL for d in docs.values()), states
        for j in ids:
            expected: set[tuple[str, str | None]] = {("COMPLETED", None)}
            if retries[j] == 0:
                expected.add(("ERROR", "runner lost"))  # only if it was running on the victim
            assert (docs[j]["state"], docs[j].get("reason")) in expected, docs[j]
        lost = [j for j in ids if docs[j]["state"] == "ERROR"]
        assert set(lost) <= {d["_id"] for d in held if retries[d["_id"]] == 0}

        # An execution that finished on the victim may still have lost its outcome with it (killed
        # between the task's end and the write): such a job runs again, which is at-least-once.
        # What must never happen: a job that was not running on the victim running twice, or any
        # job finishing twice on the runners that are left.
        held_ids = {d["_id"] for d in held}
        victim_id = f"-{victim.proc.pid}-"
        started: Counter[tuple[str, bool]] = Counter()
        finished: Counter[tuple[str, bool]] = Counter()
        async for e in db["executions"].find({}):
            on_victim = victim_id in str(e["runner"])
            started[e["job_id"], on_victim] += 1
            finished[e["job_id"], on_victim] += 1 if e["finished"] else 0
        for j in ids:
            runs = started[j, True] + started[j, False], finished[j, True] + finished[j, False]
            if j not in held_ids:
                assert docs[j]["state"] == "COMPLETED" and runs == (1, 1), (j, runs)
            else:
                assert finished[j, False] == (1 if docs[j]["state"] == "COMPLETED" else 0), (j, runs)
            if docs[j]["state"] == "COMPLETED":
                done = await db["executions"].find_one({"_id": docs[j]["result"]["execution"]})
                assert done is not None and done["finished"]
        unrecorded = sum(finished[j, True] for j in held_ids)

        taken_over = [j for j in ids if docs[j]["attempt"] == 2]
        assert set(taken_over) <= held_ids
        back = [float(docs[j]["timeline"]["2"]["RUNNING"]) for j in taken_over]
        all_ended = max(float(d["updated_at"]) for d in docs.values())
        ended = [float(docs[j]["timeline"]["1"]["ERROR"]) for j in lost]
        print(
            f"\nSIGKILL with {len(held)} jobs running on the victim: {len(taken_over)} taken over "
            f"(running again after {max(back, default=killed_at) - killed_at:.1f}s), {len(lost)} without "
            f"retries marked 'runner lost' after {max(ended, default=killed_at) - killed_at:.1f}s "
            f"(heartbeat {settings.heartbeat_seconds}s x {settings.heartbeat_misses}); "
            f"{unrecorded} finished on the victim without their outcome recorded; all 40 ended "
            f"{all_ended - killed_at:.1f}s after the kill: {dict(states)}"
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
        asked = time.monotonic()
        assert await asyncio.to_thread(leaving.wait, 30) == 0
        drained = time.monotonic() - asked
        short_doc = await db["jobs"].find_one({"_id": short})
        long_doc = await db["jobs"].find_one({"_id": long})
        assert short_doc is not None and short_doc["state"] == "COMPLETED"
        assert long_doc is not None and long_doc["state"] in ("IN_QUEUE", "WAITING")
        stack.add("runner", "--slots", "4")
        docs = await wait_terminal(db, {long}, within=60)
        assert docs[long]["state"] == "COMPLETED"
        assert docs[long]["runner"] != short_doc["runner"]  # finished by the runner started after
        print(
            f"\nSIGTERM: the runner exited {drained:.1f}s later (grace 2 s) with the short job done "
            "and the long one handed back"
        )
    finally:
        stack.stop()
