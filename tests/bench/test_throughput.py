"""`make bench`: Laneyard's throughput and memory on the embedded default, against a raw baseline.

For no-op jobs (one per request, and in batches of 100 through
`POST /v1/jobs/batch`) and 10 ms sleep jobs, at each size in LANEYARD_BENCH_SIZES (default 1000,50000):
admission rate over HTTP (32 keep-alive clients), end-to-end jobs per second (first submission to
last COMPLETED stamp), submit-to-start latency p50/p95/p99 (RUNNING minus IN_QUEUE stamp), and
each process's RSS at the end of the run and CPU during it (% of one core). Then the same number
of job bodies of the same size through a raw aio-pika one-hop loop on the same broker, with
Laneyard's end-to-end figure as a ratio of it.

LANEYARD_BENCH_PROFILE=DIR also records the first no-op run of every process with py-spy.

The bursts submit through ``http_load``'s lean client (httpx was the bottleneck of this measurement);
the warm-up, the waiting and the reading of stamps go through the public client, ``AsyncClient``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.bench import profiling
from tests.bench.harness import (
    NOOP,
    SLEEP_10MS,
    Run,
    burst,
    percentile,
    sizes,
    start_bench,
    submit_body,
    wait_all,
)
from tests.bench.raw_baseline import job_body, raw_one_hop
from tests.bench.report import REPORT, ms

pytestmark = [pytest.mark.bench, pytest.mark.timeout(7200)]

# name -> (job body, jobs per HTTP request)
WORKLOADS = {"no-op": (NOOP, 1), "no-op, batches of 100": (NOOP, 100), "sleep 10 ms": (SLEEP_10MS, 1)}
THROUGHPUT = "Throughput: 1 admission, 1 dispatcher, 1 runner (128 slots), 32 HTTP clients"
BASELINE = "Raw baseline: one hop of plain aio-pika (persistent, confirms, manual acks), same broker"


def per_process(values: dict[str, float], fmt: str) -> str:
    return " / ".join(fmt.format(v) for v in values.values())


def row(name: str, n: int, run: Run) -> dict[str, str]:
    start = run.stamps.submit_to_start
    cpu = {k: 100 * v / run.wall for k, v in run.cpu_seconds.items()}
    who = "/".join(k.removesuffix("-1") for k in run.rss_mib)
    return {
        "workload": name,
        "jobs": f"{n:,}",
        "admission /s": f"{run.admit_rate:,.0f}",
        "end to end /s": f"{run.e2e_rate:,.1f}",
        "start p50 ms": ms(percentile(start, 50)),
        "p95 ms": ms(percentile(start, 95)),
        "p99 ms": ms(percentile(start, 99)),
        "finished": f"{run.finished:,}",
        f"RSS MiB {who}": per_process(run.rss_mib, "{:.0f}"),
        "CPU % of a core": per_process(cpu, "{:.0f}"),
    }


async def test_throughput_and_memory(
    settings: Settings,
    tmp_path: Path,
    db: Database,  # the test's database, dropped after it
) -> None:
    bench = await start_bench(settings, tmp_path)
    e2e: dict[tuple[str, int], float] = {}
    profile_dir = profiling.directory()
    try:
        warm_up = [await submit_body(bench.client, NOOP) for _ in range(50)]
        await wait_all([bench.client], [job.id for job in warm_up], within=60)
        for name, (body, batch) in WORKLOADS.items():
            for n in sizes():
                label = f"{name} {n}"
                print(f"\n{label}: submitting", flush=True)
                profile = profile_dir if (name, n) == ("no-op", sizes()[0]) else None
                async with profiling.profiled(bench, profile, label.replace(" ", "-")) as files:
                    run = await burst(bench, body, n, label, batch)
                e2e[(name, n)] = run.e2e_rate
                REPORT.add(THROUGHPUT, row(name, n, run))
                print("  " + ", ".join(f"{k} {v}" for k, v in row(name, n, run).items()), flush=True)
                for raw in files:
                    for line in profiling.summary(raw, run.wall):
                        print(line)
                if files:
                    REPORT.note(THROUGHPUT, f"py-spy profiles of '{label}' in {profile_dir}")
    finally:
        await bench.close()

    payload = job_body(NOOP)
    for n in sizes():
        rate = await raw_one_hop(settings.amqp_url, f"{settings.prefix}.raw", payload, n)
        REPORT.add(
            BASELINE,
            {
                "jobs": f"{n:,}",
                "body bytes": str(len(payload)),
                "raw one hop /s": f"{rate:,.0f}",
                "Laneyard no-op e2e /s": f"{e2e[('no-op', n)]:,.1f}",
                "Laneyard / raw": f"{e2e[('no-op', n)] / rate:.1%}",
                "batched no-op / raw": f"{e2e[('no-op, batches of 100', n)] / rate:.1%}",
                "10 ms sleep e2e / raw": f"{e2e[('sleep 10 ms', n)] / rate:.1%}",
            },
        )
        print(f"raw one hop {n}: {rate:,.0f}/s", flush=True)
