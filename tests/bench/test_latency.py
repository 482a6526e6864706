"""`make bench`: dispatch latency (issue 4), the WAITING stamp minus the IN_QUEUE stamp: how long a
job that fits waits for the dispatcher to forward it to its cluster. Measured idle (200 no-op jobs
submitted one at a time at 20/s) and at 80% load (no-op jobs submitted on a schedule at 80% of
the end-to-end capacity measured by a burst first, for LANEYARD_BENCH_LOAD_SECONDS, default 20).
Both runs submit, wait and read the stamps back through the public client (``AsyncClient``);
``sent /s`` is the rate its submissions were answered at, below the target if it could not keep up.

LANEYARD_BENCH_CAPACITY=N skips the burst and takes N jobs/s as the capacity.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.bench.harness import (
    NOOP,
    burst,
    percentile,
    stamps,
    start_bench,
    submit_paced,
    terminal_docs,
    wait_all,
)
from tests.bench.report import REPORT, ms

pytestmark = [pytest.mark.bench, pytest.mark.timeout(1800)]

LATENCY = "Dispatch latency (WAITING - IN_QUEUE) and submit-to-start (RUNNING - IN_QUEUE), no-op jobs"


async def test_dispatch_latency_idle_and_at_80_percent_load(
    settings: Settings,
    tmp_path: Path,
    db: Database,  # the test's database, dropped after it
) -> None:
    bench = await start_bench(settings, tmp_path)
    load_seconds = float(os.environ.get("LANEYARD_BENCH_LOAD_SECONDS", "20"))
    try:
        if capacity_env := os.environ.get("LANEYARD_BENCH_CAPACITY"):
            capacity = float(capacity_env)
        else:
            print("\nmeasuring capacity: a burst of 1,000 no-op jobs", flush=True)
            capacity = (await burst(bench, NOOP, 1000, "capacity")).e2e_rate
        print(f"capacity {capacity:.0f} jobs/s end to end", flush=True)
        loads = [("idle, 20/s", 20.0, 200), ("80% load", 0.8 * capacity, int(0.8 * capacity * load_seconds))]
        for label, rate, count in loads:
            print(f"{label}: {count} jobs at {rate:.0f}/s", flush=True)
            ids, sent = await submit_paced(bench.client, [dict(NOOP) for _ in range(count)], rate)
            docs = terminal_docs(await wait_all([bench.client], ids, within=300))
            s = stamps(docs)
            REPORT.add(
                LATENCY,
                {
                    "load": label,
                    "rate /s": f"{rate:,.0f}",
                    "sent /s": f"{sent:,.0f}",
                    "jobs": f"{count:,}",
                    "dispatch p50 ms": ms(percentile(s.dispatch, 50)),
                    "dispatch p99 ms": ms(percentile(s.dispatch, 99)),
                    "start p50 ms": ms(percentile(s.submit_to_start, 50)),
                    "start p99 ms": ms(percentile(s.submit_to_start, 99)),
                    "finished": f"{len(docs):,}",
                },
            )
            print("  " + ", ".join(f"{c} {v}" for c, v in zip(*_last(LATENCY), strict=True)), flush=True)
        REPORT.note(LATENCY, f"capacity taken as {capacity:.0f} jobs/s end to end")
    finally:
        await bench.close()


def _last(title: str) -> tuple[list[str], list[str]]:
    section = REPORT.sections[title]
    return section.columns, section.rows[-1]
