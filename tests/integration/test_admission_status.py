"""GET /v1/status: lane depths from RabbitMQ, runners and capacity from their reports."""

from __future__ import annotations

import time

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import CapacityReport
from laneyard.shared.settings import Settings
from laneyard.shared.store import runners
from laneyard.shared.store.database import Database
from tests.support.admission import api

BODY = {"task": "demo.noop", "tier": "TINY"}


def report(runner_id: str, running: dict[str, str], cluster: str = "default") -> CapacityReport:
    return CapacityReport.model_validate(
        {
            "runner_id": runner_id,
            "cluster": cluster,
            "host": "h",
            "pid": 1,
            "cpu_millicores": 4000,
            "memory_mib": 8192,
            "slots": 4,
            "reserved_cpu_millicores": 250 * len(running),
            "reserved_memory_mib": 256 * len(running),
            "running": running,
        }
    )


async def test_status_counts_queued_jobs_and_living_runners(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        for lane, count in (("main", 3), ("other", 1)):
            for _ in range(count):
                assert (await client.post("/v1/jobs", json={**BODY, "lane": lane})).status_code == 202
        await runners.record(db, report("idle-1", {}))
        await runners.record(db, report("busy-1", {"j1": "TINY", "j2": "TINY"}))
        await runners.record(db, report("gone-1", {"j3": "TINY"}))
        await db["runners"].update_one({"_id": "gone-1"}, {"$set": {"last_seen": time.time() - 3600}})

        status = (await client.get("/v1/status")).json()
    lanes = {(row["lane"], row["cluster"]): row for row in status["lanes"]}
    assert lanes[("main", "default")]["queued"] == 3
    assert lanes[("other", "default")]["queued"] == 1
    default = status["clusters"]["default"]
    assert default["runners"] == {"idle": 1, "busy": 1, "draining": 0}
    assert default["running_jobs"] == 2
    assert default["capacity"]["cpu_millicores"] == {"total": 8000, "used": 500, "free": 7500}
    assert default["capacity"]["memory_mib"] == {"total": 16384, "used": 512, "free": 15872}
    assert default["capacity"]["slots"] == {"total": 8, "used": 2, "free": 6}


async def test_status_lists_tasks_that_no_living_runner_offers(
    settings: Settings, db: Database, bus: Bus
) -> None:
    from laneyard.shared.store import unserved

    async with api(settings, db, bus) as (client, _):
        await unserved.record(db, "default", "reports.build")
        await unserved.record(db, "default", "demo.noop")  # offered below: not listed
        await unserved.record(db, "default", "old.task", now=time.time() - 3600)  # no longer asked for
        offering = report("r-1", {})
        offering.tasks = ["demo.noop"]
        await runners.record(db, offering)
        status = (await client.get("/v1/status")).json()
    assert [(w["cluster"], w["task"]) for w in status["waiting_for_runner"]] == [("default", "reports.build")]
