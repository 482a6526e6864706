"""Capacity reports: every heartbeat, and soon after every change (coalesced), to the dispatchers
over the capacity exchange, and to MongoDB for status pages and cold-starting dispatchers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

from aio_pika.abc import ExchangeType

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.metrics import runner as runner_metrics
from laneyard.shared.models import CapacityReport
from laneyard.shared.store import runners as runner_store
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier, request_of

log = logging.getLogger(__name__)

COALESCE_SECONDS = 0.02


class Ledger:
    """What this runner offers and what its running jobs reserve."""

    def __init__(
        self, runner_id: str, cluster: str, cpu: int, mem: int, slots: int, tasks: list[str]
    ) -> None:
        self.runner_id = runner_id
        self.cluster = cluster
        self.cpu = cpu
        self.mem = mem
        self.slots = slots
        self.tasks = tasks
        self.running: dict[str, Tier] = {}
        self.job_slots: dict[str, int] = {}
        self.lanes: dict[str, str] = {}
        self.seen: list[str] = []
        self.draining = False
        self.changed = asyncio.Event()

    def fits(self, tier: Tier, slots: int = 1) -> bool:
        req = request_of(tier)
        cpu, mem = self.reserved()
        return (
            self.slots_used() + slots <= self.slots
            and cpu + req.cpu_millicores <= self.cpu
            and mem + req.memory_mib <= self.mem
        )

    def slots_used(self) -> int:
        return sum(self.job_slots.values())

    def reserved(self) -> tuple[int, int]:
        cpu = sum(request_of(t).cpu_millicores for t in self.running.values())
        mem = sum(request_of(t).memory_mib for t in self.running.values())
        return cpu, mem

    def see(self, job_id: str) -> None:
        self.seen.append(job_id)
        self.changed.set()

    def start(self, job_id: str, tier: Tier, lane: str = "", slots: int = 1) -> None:
        self.running[job_id] = tier
        self.job_slots[job_id] = slots
        self.lanes[job_id] = lane
        self.changed.set()

    def finish(self, job_id: str) -> None:
        self.lanes.pop(job_id, None)
        self.job_slots.pop(job_id, None)
        if self.running.pop(job_id, None) is not None:
            self.changed.set()

    def report(self) -> CapacityReport:
        cpu, mem = self.reserved()
        seen, self.seen = self.seen[:1000], self.seen[1000:]
        return CapacityReport(
            runner_id=self.runner_id,
            cluster=self.cluster,
            host=socket.gethostname(),
            pid=os.getpid(),
            cpu_millicores=self.cpu,
            memory_mib=self.mem,
            slots=self.slots,
            reserved_cpu_millicores=cpu,
            reserved_memory_mib=mem,
            running=dict(self.running),
            slots_used=self.slots_used(),
            lanes=dict(self.lanes),
            seen=seen,
            tasks=self.tasks,
            draining=self.draining,
        )


async def report_loop(bus: Bus, db: Database, ledger: Ledger, heartbeat: float, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    last_stored = 0.0
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ledger.changed.wait(), heartbeat)
        await asyncio.sleep(COALESCE_SECONDS)
        ledger.changed.clear()
        report = ledger.report()
        try:
            await bus.publish(
                bus.names.capacity_exchange,
                ExchangeType.FANOUT,
                report.model_dump_json().encode(),
                transient=True,
            )
            runner_metrics.REPORTS_SENT.inc()
            if loop.time() - last_stored >= heartbeat:
                await runner_store.record(db, report)
                last_stored = loop.time()
        except Exception:
            # A lost report is made good by the next one; a runner that cannot report for three
            # heartbeats is treated as gone, which is the safe side.
            runner_metrics.REPORTS_FAILED.inc()
            log.exception("sending a capacity report failed")
