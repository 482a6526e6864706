"""Jobs of any length: a job's message is acked as soon as it is RUNNING, so a job may outlast the
broker's consumer_timeout; a runner killed mid-job is noticed by its missing heartbeats and its jobs
re-queued (or ended 'runner lost') within the heartbeat timeout; and a dispatcher killed between a
re-queue's state change and its publish leaves an outbox intent that the next dispatcher publishes."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import httpx
import pytest

from laneyard.shared.amqp.topology import Names
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.broker import rabbitmqctl_eval, unacked
from tests.support.jobs import (
    by_runner,
    executions,
    process_id_has_pid,
    submit,
    wait_all_in_state,
    wait_lease_holder,
)
from tests.support.stack import Stack
from tests.support.waiting import TERMINAL, wait_state, wait_terminal

pytestmark = pytest.mark.e2e

# A job's message may be seen unacked for this long after its submission (forwarded, not yet claimed).
UNACKED_ALLOWANCE_SECONDS = 5.0
# How much later than the heartbeat timeout a lost runner's jobs may be recovered: the reaper ticks
# every second, and the machine may be busy.
RECOVERY_MARGIN_SECONDS = 3.0


def count(sleep: float, **extra: object) -> dict[str, object]:
    return {"task": "e2e.count", "args": {"sleep": sleep}, "tier": "TINY", **extra}


async def wait_runners(db: Database, n: int, within: float = 30) -> None:
    deadline = time.monotonic() + within
    while await db["runners"].count_documents({}) < n:
        assert time.monotonic() < deadline, f"fewer than {n} runners reported within {within} s"
        await asyncio.sleep(0.1)


async def test_a_job_longer_than_the_consumer_timeout_completes(
    consumer_timeout_10s: int, stack: Stack, settings: Settings, db: Database
) -> None:
    # Set before the services start: a channel takes the broker's consumer_timeout when it opens
    # (and the fixture makes the broker check it every second, as it would not within 25 s).
    in_force = await asyncio.to_thread(rabbitmqctl_eval, "application:get_env(rabbit, consumer_timeout).")
    assert in_force == f"{{ok,{consumer_timeout_10s}}}"
    stack.add("admission"), stack.add("dispatcher")
    runner = stack.add("runner", "--slots", "4")
    await asyncio.to_thread(stack.wait_ready)
    await wait_runners(db, 1)
    queue = Names(settings.prefix).cluster_queue("default")
    # A runner records itself before the dispatcher, hearing its first report, declares the
    # cluster's queue: sampling starts once the queue is there, so "vanished" means vanished.
    for _ in range(60):
        if await unacked(settings, queue) is not None:
            break
        await asyncio.sleep(0.5)

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        job = await submit(client, count(25.0))  # 2.5 times the consumer_timeout
    submitted = time.monotonic()
    samples: list[tuple[float, str, tuple[int, int] | None]] = []
    while True:
        doc = await db["jobs"].find_one({"_id": job}, projection={"state": True})
        state = doc["state"] if doc else "-"
        if state in TERMINAL:
            break
        at = time.monotonic() - submitted
        assert at < 120, f"the 25 s job did not end within 120 s: {state}"
        samples.append((at, state, await unacked(settings, queue)))
        await asyncio.sleep(max(0.0, 1.0 - (time.monotonic() - submitted - at)))

    assert all(counts is not None for _, _, counts in samples), "the cluster queue vanished"
    late = [(round(at, 1), state, counts) for at, state, counts in samples if at >= UNACKED_ALLOWANCE_SECONDS]
    assert len(late) >= 10, f"too few samples while the job ran: {late}"
    assert all(counts is not None and counts[1] == 0 for _, _, counts in late), late
    doc = await db["jobs"].find_one({"_id": job})
    assert doc is not None and doc["state"] == "COMPLETED" and doc["attempt"] == 1, doc
    assert await executions(db) == {(job, 1): 1}
    assert runner.proc is not None and runner.proc.poll() is None  # its channel was never closed under it
    ran = doc["timeline"]["1"]["COMPLETED"] - doc["timeline"]["1"]["RUNNING"]
    print(
        f"\na {ran:.1f}s job under a {consumer_timeout_10s / 1000:g}s consumer_timeout: COMPLETED once; "
        f"{len(samples)} samples of the cluster queue, unacked after {UNACKED_ALLOWANCE_SECONDS:g}s: "
        f"{max(c[1] for _, _, c in late if c is not None)}"
    )


async def test_sigkilled_runner_mid_long_jobs_is_recovered_within_heartbeat_timeout(
    stack: Stack, settings: Settings, db: Database
) -> None:
    timeout = settings.heartbeat_seconds * settings.heartbeat_misses
    assert timeout <= 2.0  # the test settings: a lost runner is noticed within seconds
    stack.add("admission"), stack.add("dispatcher")
    runners = [stack.add("runner", "--slots", "8"), stack.add("runner", "--slots", "8")]
    await asyncio.to_thread(stack.wait_ready)
    await wait_runners(db, 2)  # both offer capacity before the work comes

    # The two without retries next to each other: the broker hands messages to the runners in
    # turn, so the runners are likely to get one each and whichever is killed holds both kinds.
    kinds = [1, 1, 1, 0, 0, 1, 1, 1]
    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        ids = [await submit(client, count(20.0, max_retries=k)) for k in kinds]
    retries = dict(zip(ids, kinds, strict=True))
    running = await wait_all_in_state(db, set(ids), "RUNNING", within=30)

    held = by_runner(running)
    victim_id = max(held, key=lambda r: (len(held[r]), len({retries[j] for j in held[r]})))
    victim = next(s for s in runners if s.proc is not None and process_id_has_pid(victim_id, s.proc.pid))
    assert victim.proc is not None
    os.kill(victim.proc.pid, signal.SIGKILL)
    killed_at = time.time()
    lost_ids = set(held[victim_id])

    docs = await wait_terminal(db, set(ids), within=45)
    assert len(docs) == len(ids) and all(d["state"] in TERMINAL for d in docs.values()), {
        j: (d["state"], d.get("runner")) for j, d in docs.items()
    }
    runs = await executions(db)
    delays: dict[str, float] = {}
    for j in ids:
        doc, timeline = docs[j], docs[j]["timeline"]
        if j not in lost_ids:  # ran on the runner that is left, once
            assert (doc["state"], doc["attempt"]) == ("COMPLETED", 1), doc
            assert runs[j, 1] == 1 and runs[j, 2] == 0, runs
        elif retries[j]:  # re-queued as attempt 2 and completed on the runner that is left
            assert (doc["state"], doc["attempt"], doc.get("reason")) == ("COMPLETED", 2, None), doc
            assert doc["lost_runner"] == victim_id and doc["runner"] != victim_id, doc
            assert runs[j, 1] == 1 and runs[j, 2] == 1, runs
            delays[j] = float(timeline["2"]["IN_QUEUE"]) - killed_at
        else:  # no retries left: runner lost, and never run again
            assert (doc["state"], doc["attempt"], doc.get("reason")) == ("ERROR", 1, "runner lost"), doc
            assert "2" not in timeline and runs[j, 1] == 1 and runs[j, 2] == 0, (doc, runs)
            delays[j] = float(timeline["1"]["ERROR"]) - killed_at
    assert await db["outbox"].count_documents({}) == 0

    requeued = sorted(round(delays[j], 2) for j in lost_ids if retries[j])
    ended = sorted(round(delays[j], 2) for j in lost_ids if not retries[j])
    print(
        f"\nSIGKILL of the runner holding {len(lost_ids)} of {len(ids)} jobs "
        f"({len(requeued)} with a retry, {len(ended)} without): re-queued after {requeued} s, "
        f"ended 'runner lost' after {ended} s (heartbeat timeout {settings.heartbeat_seconds:g}s x "
        f"{settings.heartbeat_misses} = {timeout:g}s)"
    )
    assert lost_ids and all(0 < d <= timeout + RECOVERY_MARGIN_SECONDS for d in delays.values()), delays


async def test_a_dispatcher_killed_between_requeue_write_and_publish_is_made_good_by_the_sweeper(
    stack: Stack, settings: Settings, db: Database
) -> None:
    stack.add("admission")
    doomed = stack.add("dispatcher", LANEYARD_FAULTS="requeue_before_publish")
    victim = stack.add("runner", "--slots", "4")
    await asyncio.to_thread(stack.wait_ready)
    assert doomed.proc is not None and victim.proc is not None
    # The dispatcher that dies at the fault point is the one whose reaper re-queues: it holds the lease.
    holder = await wait_lease_holder(db, within=30)
    assert process_id_has_pid(holder, doomed.proc.pid), holder
    standby = stack.add("dispatcher")
    await asyncio.to_thread(stack.wait_logged, standby, "started (threshold")
    await wait_runners(db, 1)

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        job = await submit(client, count(3.0, max_retries=1))
    await wait_state(db, job, "RUNNING", within=30)
    os.kill(victim.proc.pid, signal.SIGKILL)
    killed_at = time.time()
    stack.add("runner", "--slots", "4")  # where the re-queued attempt runs

    # The doomed dispatcher's reaper writes the intent and IN_QUEUE, then dies before publishing.
    assert await asyncio.to_thread(doomed.wait, 30) == -signal.SIGKILL
    died_at = time.time()
    doc = await db["jobs"].find_one({"_id": job})
    assert doc is not None and (doc["state"], doc["attempt"]) == ("IN_QUEUE", 2), doc
    intent = await db["outbox"].find_one({"_id": f"{job}:2"})
    assert intent is not None, "the re-queue left no outbox intent"

    new_holder = await wait_lease_holder(db, within=30, other_than=holder)
    took_over_at = time.time()
    assert process_id_has_pid(new_holder, standby.proc.pid if standby.proc else -1), new_holder
    docs = await wait_terminal(db, {job}, within=60)
    doc = docs[job]
    assert (doc["state"], doc["attempt"]) == ("COMPLETED", 2), doc
    assert await db["outbox"].count_documents({}) == 0
    assert await executions(db) == {(job, 1): 1, (job, 2): 1}
    timeline = doc["timeline"]["2"]
    print(
        f"\ndispatcher SIGKILLed at requeue_before_publish {died_at - killed_at:.1f}s after the runner's "
        f"kill; the standby took the lease {took_over_at - died_at:.1f}s later (lease "
        f"{settings.lease_seconds:g}s); attempt 2 forwarded {float(timeline['WAITING']) - died_at:.1f}s "
        f"after the death (outbox republish after {settings.outbox_republish_seconds:g}s), "
        f"COMPLETED {float(timeline['COMPLETED']) - died_at:.1f}s after it"
    )
