"""`make bench`: Laneyard's throughput and latency on the embedded default, against a raw baseline.

For no-op jobs and 10 ms sleep jobs, at each size in LANEYARD_BENCH_SIZES (default 1000,50000):
admission rate over HTTP (32 keep-alive clients), end-to-end jobs per second (first submission
to last COMPLETED stamp), submit-to-start latency p50/p95/p99, and each service's RSS at the end;
then dispatch latency when idle and at 80% of the measured capacity; and the same job bodies
through a raw aio-pika publish/consume loop (one hop, persistent, confirms, acks), with
Laneyard's end-to-end figure as a ratio of it.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from shared.settings import Settings
from shared.store.database import Database
from tests.bench.harness import (
    percentile,
    raw_one_hop,
    rss_mib,
    sizes,
    stamps,
    submit_all,
    submit_paced,
    wait_all,
)
from tests.support.stack import Stack

pytestmark = [pytest.mark.bench, pytest.mark.timeout(7200)]

WORKLOADS = {
    "no-op": {"task": "demo.noop", "tier": "TINY"},
    "sleep 10 ms": {"task": "demo.sleep", "args": {"seconds": 0.01}, "tier": "TINY"},
}


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


async def test_throughput_latency_and_memory(settings: Settings, tmp_path: Path, db: Database) -> None:
    bench = settings.model_copy(update={"log_level": "WARNING", "heartbeat_seconds": 2.0})
    stack = Stack(bench, tmp_path)
    rows: list[str] = []
    e2e_rates: dict[str, float] = {}
    try:
        services = [stack.add("admission"), stack.add("dispatcher")]
        services.append(stack.add("runner", "--slots", "32", "--cpu", "16000", "--memory", "32768"))
        await asyncio.to_thread(stack.wait_ready)
        await submit_all(stack.url, [dict(WORKLOADS["no-op"]) for _ in range(50)])  # warm up
        for name, body in WORKLOADS.items():
            for n in sizes("1000,50000"):
                ids, took = await submit_all(stack.url, [dict(body) for _ in range(n)])
                docs = await wait_all(db, ids, within=max(600.0, n / 5))
                s = stamps(docs)
                first = min(float(d["timeline"]["1"]["IN_QUEUE"]) for d in docs.values())
                e2e = len(s.completed_at) / (max(s.completed_at) - first)
                e2e_rates[f"{name} {n}"] = e2e
                rss = " ".join(f"{sv.name}={rss_mib(sv):.0f}" for sv in services)
                rows.append(
                    f"{name:<12}{n:>7}  admit {n / took:7.0f}/s  e2e {e2e:7.1f}/s  "
                    f"start p50/p95/p99 {ms(percentile(s.submit_to_start, 50))}"
                    f"{ms(percentile(s.submit_to_start, 95))}{ms(percentile(s.submit_to_start, 99))} ms  "
                    f"RSS MiB {rss}  (done {len(docs)}/{n})"
                )
                print(rows[-1], flush=True)

        capacity = e2e_rates[f"no-op {sizes('1000,50000')[0]}"]
        for label, rate in (("idle (20/s)", 20.0), (f"80% load ({0.8 * capacity:.0f}/s)", 0.8 * capacity)):
            count = 200 if rate <= 20 else int(min(3000, rate * 10))
            ids = await submit_paced(stack.url, [dict(WORKLOADS["no-op"]) for _ in range(count)], rate)
            s = stamps(await wait_all(db, ids, within=300))
            rows.append(
                f"dispatch latency {label:<22} p50 {ms(percentile(s.dispatch, 50))} ms  "
                f"p99 {ms(percentile(s.dispatch, 99))} ms  submit-to-start p50 "
                f"{ms(percentile(s.submit_to_start, 50))} ms  p99 {ms(percentile(s.submit_to_start, 99))} ms"
            )
            print(rows[-1], flush=True)
    finally:
        stack.stop()

    body = json.dumps({"id": "0" * 32, **WORKLOADS["no-op"], "args": {}}).encode()
    for n in sizes("1000,50000"):
        raw = await raw_one_hop(settings.amqp_url, f"{settings.prefix}.raw", body, n)
        ratio = e2e_rates[f"no-op {n}"] / raw
        rows.append(f"raw aio-pika one hop {n:>7}: {raw:8.0f}/s   Laneyard no-op e2e = {ratio:.1%} of it")
        print(rows[-1], flush=True)
    print("\n== Laneyard bench ==\n" + "\n".join(rows))
