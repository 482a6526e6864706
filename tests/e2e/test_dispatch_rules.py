"""The dispatcher's rules, shown with the three services running as real processes."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier, request_of
from tests.support.stack import Stack
from tests.support.waiting import run_interval, wait_state, wait_terminal

pytestmark = pytest.mark.e2e


def make_stack(settings: Settings, tmp_path: Path, **overrides: object) -> Stack:
    return Stack(
        settings.model_copy(update=overrides),
        tmp_path,
        env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"},
    )


async def submit(client: httpx.AsyncClient, bodies: list[dict[str, object]]) -> list[str]:
    ids = []
    for body in bodies:  # one at a time: submission order is part of what some tests check
        reply = await client.post("/v1/jobs", json=body)
        assert reply.status_code == 202, reply.text
        ids.append(str(reply.json()["id"]))
    return ids


def count(sleep: float, **extra: object) -> dict[str, object]:
    return {"task": "e2e.count", "args": {"sleep": sleep}, "tier": "TINY", **extra}


async def test_higher_priority_first_and_fifo_within_a_priority(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    stack = make_stack(settings, tmp_path)
    try:
        stack.add("admission"), stack.add("dispatcher"), stack.add("runner", "--slots", "1")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            [blocker] = await submit(client, [count(1.5)])
            await wait_state(db, blocker, "RUNNING", within=30)
            rng = random.Random(7)
            priorities = [rng.choice([1, 5, 9]) for _ in range(24)]
            ids = await submit(client, [count(0.0, priority=p) for p in priorities])
        docs = await wait_terminal(db, {blocker, *ids}, within=120)
        started = sorted(ids, key=lambda j: run_interval(docs[j])[0])
        expected = [
            j for _, _, j in sorted((-p, i, j) for i, (p, j) in enumerate(zip(priorities, ids, strict=True)))
        ]
        assert started == expected
    finally:
        stack.stop()


async def test_no_runner_or_cluster_goes_over_capacity_under_a_flood(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    stack = make_stack(settings, tmp_path)
    offered = {"cpu": 2000, "mem": 3072, "slots": 6}
    try:
        stack.add("admission"), stack.add("dispatcher")
        for _ in range(2):
            stack.add("runner", "--slots", "6", "--cpu", "2000", "--memory", "3072")
        await asyncio.to_thread(stack.wait_ready)
        rng = random.Random(11)
        tiers = [Tier.TINY, Tier.XSMALL, Tier.SMALL, Tier.MEDIUM]
        bodies = [count(rng.uniform(0.05, 0.3), tier=str(rng.choice(tiers))) for _ in range(150)]
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            ids = await asyncio.gather(*(submit(client, [b]) for b in bodies))
        docs = await wait_terminal(db, {i[0] for i in ids}, within=180)
        assert Counter(d["state"] for d in docs.values()) == {"COMPLETED": 150}

        events: list[tuple[float, int, str, str]] = []  # (time, +1/-1, runner, job)
        for job_id, doc in docs.items():
            start, end = run_interval(doc)
            events += [(start, 1, doc["runner"], job_id), (end, -1, doc["runner"], job_id)]
        use: dict[str, Counter[str]] = {}
        peak_cluster = 0
        for _, sign, runner, job_id in sorted(events, key=lambda e: (e[0], e[1])):  # ends before starts
            req = request_of(Tier(docs[job_id]["tier"]))
            u = use.setdefault(runner, Counter())
            u["cpu"] += sign * req.cpu_millicores
            u["mem"] += sign * req.memory_mib
            u["slots"] += sign
            for key in ("cpu", "mem", "slots"):
                assert u[key] <= offered[key], f"runner {runner} over its {key}: {u[key]} > {offered[key]}"
            cluster_cpu = sum(x["cpu"] for x in use.values())
            peak_cluster = max(peak_cluster, cluster_cpu)
            assert cluster_cpu <= 0.95 * 2 * offered["cpu"]
        print(f"\npeak cluster CPU reserved: {peak_cluster}m of {2 * offered['cpu']}m offered")
    finally:
        stack.stop()


async def test_a_reservation_ends_the_starvation_of_a_large_job(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    stack = make_stack(
        settings, tmp_path, reservation_after_seconds=2.0, log_level=os.environ.get("RESV_LOG", "INFO")
    )
    try:
        stack.add("admission"), stack.add("dispatcher")
        stack.add("runner", "--slots", "8", "--cpu", "1000", "--memory", "8192")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            # SMALLs (256m) keep 768m of the 950m usable busy; a LARGE (512m) needs two of them gone.
            small = await submit(client, [count(0.4, tier="SMALL")] * 4)
            [large] = await submit(client, [count(0.1, tier="LARGE")])
            small += await submit(client, [count(0.4, tier="SMALL")] * 76)
        docs = await wait_terminal(db, {large, *small}, within=180)
        assert Counter(d["state"] for d in docs.values()) == {"COMPLETED": 81}
        large_start = run_interval(docs[large])[0]
        later_smalls = sum(run_interval(docs[j])[0] > large_start for j in small)
        print(f"\nthe LARGE job started with {later_smalls} of {len(small)} SMALL jobs still to start")
        assert later_smalls >= 20, "the LARGE job waited until the flood of SMALL jobs was over"
    finally:
        stack.stop()


@pytest.mark.parametrize(("weights", "entitled"), [("", 0.5), ("a=3,b=1", 0.75)])
async def test_lanes_with_work_share_a_cluster_by_weight(
    settings: Settings, tmp_path: Path, db: Database, weights: str, entitled: float
) -> None:
    stack = make_stack(settings, tmp_path, lane_weights=weights)
    try:
        stack.add("admission"), stack.add("dispatcher")
        stack.add("runner", "--slots", "8", "--cpu", "8000", "--memory", "16384")
        await asyncio.to_thread(stack.wait_ready)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            a = await asyncio.gather(*(submit(client, [count(0.6, lane="a")]) for _ in range(64)))
            b = await asyncio.gather(*(submit(client, [count(0.6, lane="b")]) for _ in range(64)))
        ids = {x[0] for x in a + b}
        samples: list[float] = []
        deadline = time.monotonic() + 120
        # Lane a's backlog arrived first and holds every slot when b's arrives; shares are measured
        # from one second after b first runs (the dispatcher learns lane depths once a second).
        settled_at: float | None = None
        while time.monotonic() < deadline:
            docs = [d async for d in db["jobs"].find({"_id": {"$in": list(ids)}}, {"state": 1, "lane": 1})]
            queued = Counter(d["lane"] for d in docs if d["state"] in ("IN_QUEUE", "WAITING"))
            running = Counter(d["lane"] for d in docs if d["state"] == "RUNNING")
            if settled_at is None and running["b"]:
                settled_at = time.monotonic() + 1.0
            settled = settled_at is not None and time.monotonic() >= settled_at
            if settled and queued["a"] and queued["b"] and sum(running.values()):
                samples.append(running["a"] / sum(running.values()))
            if all(d["state"] in ("COMPLETED", "ERROR") for d in docs):
                break
            await asyncio.sleep(0.2)
        share = sum(samples) / len(samples)
        print(
            f"\nweights {weights or 'equal'}: lane a held {share:.1%} of the running jobs over "
            f"{len(samples)} samples (entitled to {entitled:.0%})"
        )
        assert len(samples) >= 5
        assert abs(share - entitled) <= 0.1 * entitled
    finally:
        stack.stop()


async def test_a_sigkilled_dispatcher_hands_over_within_10_seconds(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    stack = make_stack(settings, tmp_path, lease_seconds=3.0)
    try:
        stack.add("admission")
        dispatchers = [stack.add("dispatcher"), stack.add("dispatcher")]
        stack.add("runner", "--slots", "8")
        await asyncio.to_thread(stack.wait_ready)
        holder = None
        while holder is None:
            doc = await db["leases"].find_one({"_id": "dispatcher"})
            holder = doc["holder"] if doc else None
            await asyncio.sleep(0.1)
        active = next(d for d in dispatchers if d.proc is not None and f"-{d.proc.pid}-" in holder)
        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
            first = await asyncio.gather(*(submit(client, [count(0.05)]) for _ in range(60)))
            assert active.proc is not None
            os.kill(active.proc.pid, signal.SIGKILL)
            killed_at = time.monotonic()
            second = await asyncio.gather(*(submit(client, [count(0.05)]) for _ in range(60)))
        new_holder = holder
        while new_holder == holder and time.monotonic() - killed_at < 30:
            doc = await db["leases"].find_one({"_id": "dispatcher"})
            new_holder = doc["holder"] if doc else holder
            await asyncio.sleep(0.1)
        handover = time.monotonic() - killed_at
        print(f"\nhand-over after SIGKILL: {handover:.1f}s")
        ids = {x[0] for x in first + second}
        docs = await wait_terminal(db, ids, within=120)
        assert Counter(d["state"] for d in docs.values()) == {"COMPLETED": 120}
        executions = Counter([d["job_id"] async for d in db["executions"].find({}, {"job_id": 1})])
        assert set(executions) == ids and set(executions.values()) == {1}
        assert new_holder != holder and handover < 10
    finally:
        stack.stop()
