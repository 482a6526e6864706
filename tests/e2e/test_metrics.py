"""Every service's /metrics, scraped while real traffic flows through the three services."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from laneyard.shared.embedded.mongo import free_port
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.broker import delete_topology
from tests.support.stack import Stack
from tests.support.waiting import wait_terminal

pytestmark = pytest.mark.e2e

Samples = dict[str, list[tuple[dict[str, str], float]]]  # sample name -> (labels, value)


async def scrape(client: httpx.AsyncClient, url: str) -> Samples:
    reply = await client.get(url)
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    samples: Samples = {}
    for family in text_string_to_metric_families(reply.text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((s.labels, s.value))
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    return sum(v for got, v in samples.get(name, []) if all(got.get(k) == w for k, w in labels.items()))


async def eventually(
    client: httpx.AsyncClient, url: str, ok: Callable[[Samples], bool], within: float = 15.0
) -> Samples:
    """Scrapes until ``ok`` holds (gauges are refreshed every second): the last scrape either way."""
    deadline = time.monotonic() + within
    while True:
        samples = await scrape(client, url)
        if ok(samples) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.3)


async def test_every_service_exports_its_metrics_under_real_traffic(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    dispatcher_port, runner_port = free_port(), free_port()
    stack = Stack(
        settings.model_copy(update={"lane_rates": "slow=20"}),
        tmp_path,
        env_extra={"LANEYARD_RUNNER_TASKS": "tests.e2e.tasks"},
    )
    started = time.monotonic()
    try:
        stack.add("admission")
        stack.add("dispatcher", LANEYARD_METRICS_PORT=str(dispatcher_port))
        stack.add(
            "runner",
            "--slots",
            "4",
            "--cpu",
            "2000",
            "--memory",
            "4096",
            LANEYARD_METRICS_PORT=str(runner_port),
        )
        await asyncio.to_thread(stack.wait_ready)
        admission_url = f"{stack.url}/metrics"
        dispatcher_url = f"http://127.0.0.1:{dispatcher_port}/metrics"
        runner_url = f"http://127.0.0.1:{runner_port}/metrics"

        async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:

            async def submit(body: dict[str, object], expect: int = 202) -> str:
                reply = await client.post("/v1/jobs", json={"tier": "TINY", **body})
                assert reply.status_code == expect, reply.text
                return str(reply.json().get("id", ""))

            done = [await submit({"task": "e2e.count", "args": {"sleep": 0.05}}) for _ in range(6)]
            failing = await submit({"task": "demo.fail", "max_retries": 1, "retry_backoff": 1.0})
            timing_out = await submit({"task": "e2e.count", "args": {"sleep": 3}, "max_execution_time": 0.3})
            throttled = [await submit({"task": "e2e.count", "lane": "slow"}) for _ in range(5)]
            first = await submit({"task": "e2e.count", "idempotency_key": "once"})
            assert await submit({"task": "e2e.count", "idempotency_key": "once"}, expect=200) == first
            await submit({"task": "e2e.count", "cluster": "nowhere"}, expect=404)
            await submit({"task": "e2e.count", "priority": 42}, expect=422)
            later = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
            cancelled = await submit({"task": "e2e.count", "start_at": later})
            assert (await client.post(f"/v1/jobs/{cancelled}/cancel")).status_code == 200
            # No runner offers this task: it is held back and waits, so its lane has an age.
            await submit({"task": "e2e.nobody", "lane": "stuck"})

            ids = {*done, failing, timing_out, *throttled, first, cancelled}
            docs = await wait_terminal(db, ids, within=60)
            states = {j: docs[j]["state"] for j in ids if j in docs}
            assert [states.get(j) for j in done] == ["COMPLETED"] * len(done)
            assert states[failing] == states[timing_out] == "ERROR"

            admission = await scrape(client, admission_url)
            dispatcher = await eventually(
                client,
                dispatcher_url,
                lambda s: (
                    total(s, "laneyard_lane_oldest_job_age_seconds", lane="stuck") >= 1.0
                    and total(s, "laneyard_cluster_offered_cpu_cores", cluster="default") > 0
                ),
            )
            runner = await scrape(client, runner_url)
        print(f"\nmetrics e2e: traffic and three scrapes in {time.monotonic() - started:.1f} s")
        for what, samples, name, labels in (
            ("dispatch latency", dispatcher, "laneyard_dispatch_latency_seconds", {"lane": "main"}),
            ("WAITING", runner, "laneyard_job_state_seconds", {"state": "WAITING"}),
        ):
            count = max(1.0, total(samples, f"{name}_count", **labels))
            mean = total(samples, f"{name}_sum", **labels) / count
            print(f"metrics e2e: mean {what} {mean * 1000:.1f} ms")

        # Admission: what happened to each submission, per lane and cluster.
        main = {"lane": "main", "cluster": "default"}
        assert total(admission, "laneyard_jobs_admitted_total", **main) == len(done) + 4
        assert total(admission, "laneyard_jobs_admitted_total", lane="slow") == 5
        assert total(admission, "laneyard_jobs_throttled_total", lane="slow") == 5
        assert total(admission, "laneyard_jobs_released_total", lane="slow") == 5
        assert total(admission, "laneyard_jobs_throttled_total", lane="main") == 0
        assert total(admission, "laneyard_jobs_deduplicated_total", **main) == 1
        assert total(admission, "laneyard_jobs_rejected_total", cluster="nowhere", code="404") == 1
        assert total(admission, "laneyard_jobs_rejected_total", code="422") == 1
        assert total(admission, "laneyard_tasks_cancelled_total", task="e2e.count") == 1

        # Dispatcher: forwards, latency, backlog and its age, capacity.
        forwarded = len(done) + 2 + 5 + 1  # first attempts: + failing, timing out, throttled, keyed
        assert (
            total(dispatcher, "laneyard_jobs_dispatched_total") == forwarded + 1
        )  # + the retry of the failing job
        assert total(dispatcher, "laneyard_dispatch_latency_seconds_count") == forwarded
        assert total(dispatcher, "laneyard_dispatch_latency_seconds_sum") < forwarded * 5
        assert total(dispatcher, "laneyard_job_state_seconds_count", state="IN_QUEUE") == forwarded + 1
        assert total(dispatcher, "laneyard_jobs_held_back_total", lane="stuck", reason="no_runner") >= 1
        assert total(dispatcher, "laneyard_lane_oldest_job_age_seconds", lane="stuck") >= 1.0
        assert total(dispatcher, "laneyard_lane_oldest_job_age_seconds", lane="main") < 5.0
        assert any(labels.get("lane") == "main" for labels, _ in dispatcher["laneyard_lane_queued_jobs"])
        default = {"cluster": "default"}
        assert total(dispatcher, "laneyard_cluster_runners_alive", **default) == 1
        assert total(dispatcher, "laneyard_cluster_offered_cpu_cores", **default) == 2.0
        assert total(dispatcher, "laneyard_cluster_offered_memory_bytes", **default) == 4096 * 2**20
        assert total(dispatcher, "laneyard_cluster_offered_slots", **default) == 4
        assert 0 <= total(dispatcher, "laneyard_cluster_free_cpu_cores", **default) <= 2.0
        assert total(dispatcher, "laneyard_cluster_reserved_cpu_cores", **default) >= 0
        assert total(dispatcher, "laneyard_dispatcher_leader") == 1

        # Runner: per task name.
        count, fail = {"task": "e2e.count"}, {"task": "demo.fail"}
        assert total(runner, "laneyard_tasks_completed_total", **count) == len(done) + 5 + 1
        assert total(runner, "laneyard_tasks_retried_total", **fail) == 1
        assert total(runner, "laneyard_tasks_failed_total", **fail, reason="exception") == 1
        assert total(runner, "laneyard_tasks_failed_total", **count, reason="timeout") == 1
        assert total(runner, "laneyard_tasks_timed_out_total", **count) == 1
        assert total(runner, "laneyard_tasks_dead_lettered_total") == 2
        assert total(runner, "laneyard_tasks_running") == 0
        runs = len(done) + 5 + 1 + 2 + 1
        assert total(runner, "laneyard_task_duration_seconds_count") == runs
        assert total(runner, "laneyard_task_duration_seconds_count", **count, outcome="error") == 1
        assert total(runner, "laneyard_job_state_seconds_count", state="WAITING") == runs
        assert total(runner, "laneyard_job_state_seconds_count", state="RUNNING") == runs
        assert total(runner, "laneyard_runner_reports_sent_total") >= 1
    finally:
        stack.stop()
        await delete_topology(settings, lanes=(("slow", "default"), ("stuck", "default")))
