"""`make chaos`: a mixed workload on 2 admission replicas, 2 dispatchers and 3 runners while a random
runner, the active dispatcher (the lease holder) and an admission replica are SIGKILLed at random
moments (each restarted a few seconds later) and RabbitMQ is restarted once. Prints what happened
to every job and fails if any accepted job was lost or ended in two different terminal states.

Jobs are submitted, waited for and read through the public client (``AsyncClient``, one per
admission replica). What the API does not show is read from the store itself, as the oracle the
answers are checked against: every execution of a task, how many jobs each idempotency key has.

LANEYARD_CHAOS_JOBS (10000) sets the size, LANEYARD_CHAOS_SECONDS (60) the least time the
submissions are spread over (so a small run still sees every kind of failure),
LANEYARD_CHAOS_BUDGET (900) the whole run's time bound, LANEYARD_CHAOS_SEED the random moments.
RabbitMQ is restarted with rabbitmqctl, so this is for a broker on loopback that is yours to
restart (LANEYARD_CHAOS_RABBITMQ=0 leaves it alone, for a broker others are using).

A second run mixes in jobs that last longer than the time between two kills: LANEYARD_CHAOS_LONG_SHARE
(0.1) of LANEYARD_CHAOS_LONG_JOBS (the smaller of LANEYARD_CHAOS_JOBS and 1000) sleep
LANEYARD_CHAOS_LONG_SECONDS ("15,30": uniformly between) while something is killed every 5-10 s (a
pause of LANEYARD_CHAOS_LONG_GAP, "3,5", then the victim's 2-5 s down), and the kills go on for the
longest such job after the last submission. A runner's death then always takes long jobs with it:
they must be re-queued (or end 'runner lost' when they have no retries) and never be lost or end
twice. The verdict is the same, and the run fails if no long job was ever interrupted.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import pytest

from laneyard.client import AsyncClient
from laneyard.shared.amqp.topology import Names, delay_ladder
from laneyard.shared.embedded.mongo import free_port
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database, Doc
from tests.bench.harness import doc_of, report_progress, views_when_ended
from tests.chaos.monkey import Monkey
from tests.chaos.submitters import Submissions, counting_clients, submit_all
from tests.chaos.verdict import judge
from tests.support.broker import delete_topology
from tests.support.stack import Service, Stack

JOBS = int(os.environ.get("LANEYARD_CHAOS_JOBS", "10000"))
SPREAD = float(os.environ.get("LANEYARD_CHAOS_SECONDS", "60"))
BUDGET = float(os.environ.get("LANEYARD_CHAOS_BUDGET", "900"))
SEED = int(os.environ.get("LANEYARD_CHAOS_SEED", str(int(time.time()))))
RESTART_RABBITMQ = os.environ.get("LANEYARD_CHAOS_RABBITMQ", "1") != "0"
# The dispatchers' log level: DEBUG logs every held-back job with the cluster's totals.
DISPATCHER_LOG = os.environ.get("LANEYARD_CHAOS_DISPATCHER_LOG", "WARNING")
LONG_JOBS = int(os.environ.get("LANEYARD_CHAOS_LONG_JOBS", str(min(JOBS, 1000))))
LONG_SHARE = float(os.environ.get("LANEYARD_CHAOS_LONG_SHARE", "0.1"))
LONG_SECONDS = tuple(float(x) for x in os.environ.get("LANEYARD_CHAOS_LONG_SECONDS", "15,30").split(","))
LONG_GAP = tuple(float(x) for x in os.environ.get("LANEYARD_CHAOS_LONG_GAP", "3,5").split(","))
TIERS = ("TINY", "XSMALL", "SMALL", "MEDIUM")
LANES = ("main", "bulk")

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(BUDGET + 300)]


@dataclass(frozen=True)
class Mix:
    """What a chaos run submits, and how often it kills."""

    jobs: int
    long_share: float = 0.0  # of the jobs, sleeping long_seconds: longer than the time between kills
    long_seconds: tuple[float, float] = (15.0, 30.0)
    gap: tuple[float, float] = (3.0, 8.0)  # the monkey's pause between two acts
    tail: float = 0.0  # seconds the kills go on after the last submission

    def is_long(self, body: dict[str, object]) -> bool:
        args = body["args"]
        return self.long_share > 0 and isinstance(args, dict) and args["sleep"] >= self.long_seconds[0]


def sleep_for(rng: random.Random, mix: Mix) -> float:
    if mix.long_share > 0 and rng.random() < mix.long_share:
        return round(rng.uniform(*mix.long_seconds), 2)
    return round(rng.uniform(0, 0.05), 3) if rng.random() < 0.85 else round(rng.uniform(0.3, 2), 2)


def workload(rng: random.Random, mix: Mix) -> list[dict[str, object]]:
    """Mostly short jobs, some long enough to be running when their runner dies (and with
    ``mix.long_share``, some that outlast the time between two kills); one in ten has no retries
    (a lost runner fails it: "runner lost")."""
    return [
        {
            "task": "e2e.count",
            "args": {"sleep": sleep_for(rng, mix)},
            "tier": rng.choice(TIERS),
            "lane": rng.choice(LANES),
            "priority": rng.choice([1, 5, 9]),
            "max_retries": 0 if i % 10 == 0 else 2,
            "retry_backoff": 0.2,
            "idempotency_key": f"chaos-{SEED}-{i}",
        }
        for i in range(mix.jobs)
    ]  # fmt: skip


def log_errors(services: list[Service], top: int = 6) -> list[str]:
    """The most frequent error and critical lines of each service's log, to read findings from."""
    out = []
    for s in services:
        counts: Counter[str] = Counter()
        try:
            lines = s.log_path.read_text(errors="replace").splitlines()
        except OSError:
            continue
        for line in lines:
            try:
                entry = json.loads(line)
            except ValueError:
                counts[f"(not JSON) {line[:100]}"] += 1
                continue
            if entry.get("level") in ("error", "critical"):
                exc = str(entry.get("exc") or "").strip().splitlines()
                msg = str(entry.get("msg")).strip()[:90]
                counts[f"{entry.get('logger')}: {msg} | {exc[-1][:110] if exc else ''}"] += 1
        if counts:
            out.append(f"{s.name} ({s.log_path}):")
            out += [f"  {n:5d} x {what}" for what, n in counts.most_common(top)]
    return out


async def queued_messages(settings: Settings) -> dict[str, int]:
    """Messages left in this run's lane, delay and cluster queues (read after the services stopped,
    so nothing is held unacked): a job that is not terminal but still has its message is late, not
    lost."""
    names = Names(settings.prefix)
    queues = [names.lane_queue(lane, "default") for lane in LANES] + [names.cluster_queue("default")]
    queues += [names.delay_queue(ms) for ms in delay_ladder(settings.delay_min_ms, settings.delay_max_ms)]
    counts: dict[str, int] = {}
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    async with connection:
        for name in queues:
            channel = await connection.channel()
            try:
                declared = await channel.declare_queue(name, passive=True)
                counts[name] = int(declared.declaration_result.message_count or 0)
            except aio_pika.exceptions.ChannelClosed:
                counts[name] = -1
    return counts


def runner_activity(docs: dict[str, Doc], pids: dict[int, str], since: float | None) -> Counter[str]:
    """COMPLETED jobs per runner service after ``since`` (a runner that never completes anything
    after the broker came back is stuck even if its process lives)."""
    per: Counter[str] = Counter()
    for d in docs.values():
        stamps = d["timeline"].get(str(d["attempt"]), {})
        if d["state"] != "COMPLETED" or since is None or float(stamps.get("COMPLETED", 0)) < since:
            continue
        pid = str(d.get("runner") or "").split("-")
        name = next((pids[int(p)] for p in pid if p.isdigit() and int(p) in pids), "unknown")
        per[name] += 1
    return per


def long_jobs_hit(docs: dict[str, Doc], long_ids: set[str]) -> Counter[str]:
    """What became of the long jobs that a kill interrupted (an attempt after the first, or ended
    'runner lost'), by final state."""
    hit: Counter[str] = Counter()
    for job_id in long_ids:
        d = docs.get(job_id)
        if d is not None and (int(d["attempt"]) > 1 or d.get("reason") == "runner lost"):
            hit[f"{d['state']}" + (f" ({d['reason']})" if d.get("reason") else "")] += 1
    return hit


def kill_intervals(events: list[str]) -> list[float]:
    """Seconds between two successive acts of the monkey (from its event log)."""
    at = [float(e.split("s", 1)[0]) for e in events if "SIGKILL" in e or "restart RabbitMQ" in e]
    return [b - a for a, b in itertools.pairwise(at)]


async def test_nothing_is_lost_under_chaos(settings: Settings, tmp_path: Path, db: Database) -> None:
    await run_chaos(settings, tmp_path, db, Mix(JOBS))


async def test_nothing_is_lost_under_chaos_with_jobs_longer_than_the_kill_interval(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    lo, hi = LONG_SECONDS
    mix = Mix(
        LONG_JOBS, long_share=LONG_SHARE, long_seconds=(lo, hi), gap=(LONG_GAP[0], LONG_GAP[1]), tail=hi
    )
    await run_chaos(settings, tmp_path, db, mix)


async def run_chaos(settings: Settings, tmp_path: Path, db: Database, mix: Mix) -> None:
    deadline = time.monotonic() + BUDGET
    jobs = mix.jobs
    chaos_settings = settings.model_copy(update={"lease_seconds": 3.0, "log_level": "WARNING"})
    stack = Stack(chaos_settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"})
    second_port = free_port()
    urls = [stack.url, f"http://127.0.0.1:{second_port}"]
    rng = random.Random(SEED)
    bodies = workload(rng, mix)
    long_keys = {str(b["idempotency_key"]) for b in bodies if mix.is_long(b)}
    print(f"\nchaos: {jobs} jobs, seed {SEED}, budget {BUDGET:.0f}s, logs in {tmp_path}", flush=True)
    if long_keys:
        print(
            f"  {len(long_keys)} of them sleep {mix.long_seconds[0]:g}-{mix.long_seconds[1]:g}s; "
            f"the monkey pauses {mix.gap[0]:g}-{mix.gap[1]:g}s between acts",
            flush=True,
        )
    subs = Submissions()
    # Submitting clients count their failed tries; the others wait for jobs and read them.
    submitters = counting_clients(urls, subs)
    readers = [AsyncClient(url) for url in urls]
    try:
        roles = {
            "admission": [stack.add("admission"), stack.add("admission", "--port", str(second_port))],
            "dispatcher": [stack.add("dispatcher", LANEYARD_LOG_LEVEL=DISPATCHER_LOG) for _ in range(2)],
            "runner": [stack.add("runner") for _ in range(3)],
        }
        await asyncio.to_thread(stack.wait_ready)
        monkey = Monkey(db, roles, random.Random(SEED + 1))
        pids: dict[int, str] = {}

        async def note_pids() -> None:
            while True:
                for s in roles["runner"]:
                    if s.proc is not None:
                        pids[s.proc.pid] = s.name
                await asyncio.sleep(0.5)

        stop_chaos, stop_supervisor = asyncio.Event(), asyncio.Event()
        chaos = asyncio.create_task(monkey.run(stop_chaos, gap=mix.gap, rabbitmq=RESTART_RABBITMQ))
        supervisor = asyncio.create_task(monkey.supervise(stop_supervisor))
        noting = asyncio.create_task(note_pids())
        started = time.monotonic()
        watch = asyncio.create_task(
            report_progress(readers, "chaos", lambda: len(subs.order), jobs, every=10)
        )
        await submit_all(submitters, bodies, subs, rate=jobs / SPREAD, until=deadline - 180)
        submitted_in = time.monotonic() - started
        print(f"  submissions done in {submitted_in:.0f}s: {len(subs.accepted)} accepted", flush=True)
        if mix.tail:
            print(f"  the kills go on for {mix.tail:.0f}s more", flush=True)
            await asyncio.sleep(min(mix.tail, max(0.0, deadline - 180 - time.monotonic())))
        stop_chaos.set()
        await asyncio.wait_for(chaos, timeout=max(1.0, deadline - time.monotonic()))
        watch.cancel()
        views = await views_when_ended(
            readers, list(subs.order), max(time.monotonic() + 1.0, deadline), "chaos: waiting", every=10
        )
        ended_in = time.monotonic() - started
        stop_supervisor.set()
        await supervisor
        noting.cancel()

        ids = set(subs.accepted.values())
        docs = {job_id: doc_of(view) for job_id, view in views.items() if job_id in ids}
        # The store's own records: what ran, and how many jobs each key made (the API shows neither).
        runs = [(str(d["job_id"]), int(d["attempt"])) async for d in db["executions"].find({})]
        executions = Counter(job for job, _ in runs)
        per_key = Counter(
            [
                str(d["idempotency_key"])
                async for d in db["jobs"].find({"idempotency_key": {"$ne": None}}, {"idempotency_key": 1})
            ]
        )
        verdict = judge(jobs, subs.accepted, subs.rejected, docs, executions, per_key, Counter(runs))
        after = monkey.rabbitmq_restarted_at
        activity = runner_activity(docs, pids, after + 10 if after else None)

        print("\n== chaos: what was done ==\n" + "\n".join(monkey.events))
        print(f"\n== chaos: {jobs} jobs, seed {SEED} ==")
        print(
            f"submissions took {submitted_in:.0f}s, every job ended {ended_in:.0f}s after the first; "
            f"retried tries: {dict(subs.retries) or 0}; gave up on a replica: {subs.failovers}; "
            f"answered duplicate: {subs.duplicates}"
        )
        print("\n".join(verdict.lines()))
        gaps = kill_intervals(monkey.events)
        if gaps:
            print(
                f"time between two acts of the monkey: {min(gaps):.1f}-{max(gaps):.1f}s, "
                f"mean {sum(gaps) / len(gaps):.1f}s ({len(gaps) + 1} acts)"
            )
        long_ids = {subs.accepted[k] for k in long_keys if k in subs.accepted}
        hit = long_jobs_hit(docs, long_ids)
        if long_keys:
            print(f"long jobs ({len(long_ids)}) interrupted by a kill: {sum(hit.values())} {dict(hit)}")
        for job_id in verdict.more_than_once[:5]:
            d = docs[job_id]
            attempts = sorted(a for j, a in runs if j == job_id)
            stored = await db["jobs"].find_one({"_id": job_id}, {"lost_runner": 1}) or {}
            print(
                f"  ran {len(attempts)}x (attempts {attempts}): {job_id} {d.get('timeline')} "
                f"lost_runner={stored.get('lost_runner')}"
            )
        for key in verdict.keys_with_two_jobs[:5]:
            twins = [d async for d in db["jobs"].find({"idempotency_key": key}, {"args": 0, "result": 0})]
            print(f"  key {key} has {len(twins)} jobs (accepted {subs.accepted.get(key)}):")
            for t in twins:
                ran = sorted(a for j, a in runs if j == t["_id"])
                print(
                    f"    {t['_id']} {t['state']} created {t.get('created_at')} ran {ran} {t.get('timeline')}"
                )
        print(f"services that exited by themselves: {len(monkey.unplanned)}")
        for finding in monkey.unplanned:
            print(f"  {finding}")
        print(f"jobs completed per runner from 10 s after the RabbitMQ restart: {dict(activity)}")
        print("\n".join(["errors in the service logs:", *log_errors(stack.services)]))
        if verdict.lost:
            stack.stop()
            queued = await queued_messages(settings)
            print(f"messages still in RabbitMQ once the services stopped: {sum(queued.values())} {queued}")
        assert not verdict.lost, f"{len(verdict.lost)} jobs lost: {verdict.lost[:10]}"
        assert not verdict.doubles, f"jobs in two terminal states: {list(verdict.doubles.items())[:10]}"
        assert len(subs.accepted) == jobs, f"not all submissions went through: {dict(subs.rejected)}"
        assert not long_ids or hit, "no long job was running when something was killed: nothing was tested"
    finally:
        for client in submitters + readers:
            await client.aclose()
        stack.stop()
        await delete_topology(settings, lanes=tuple((lane, "default") for lane in LANES))
