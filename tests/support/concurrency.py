"""Watching a concurrency key from outside the dispatcher: how many of its jobs run at once, by the
runners' capacity reports, by the database, and by the jobs' recorded run intervals."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import CapacityReport
from laneyard.shared.settings import Settings
from laneyard.shared.states import TERMINAL
from laneyard.shared.store.database import Database, Doc
from tests.support.broker import delete_queues


@dataclass
class Peak:
    """The most jobs of the watched set seen at once, and over how many samples."""

    most: int = 0
    samples: int = 0
    ids: set[str] = field(default_factory=set)

    def saw(self, running: int) -> None:
        self.samples += 1
        self.most = max(self.most, running)


class ReportWatch:
    """Every capacity report a runner sends, counted: the runner's running jobs of ``ids``. Meant
    for one runner: each of its reports is then a complete picture of what runs."""

    def __init__(self, bus: Bus, ids: set[str]) -> None:
        self.bus = bus
        self.peak = Peak(ids=ids)
        self.runners: set[str] = set()

    async def start(self) -> None:
        queue = await self.bus.topology.listener_queue(self.bus.names.capacity_exchange)
        await queue.consume(self.on_report, no_ack=True)

    async def on_report(self, message: AbstractIncomingMessage) -> None:
        with contextlib.suppress(ValidationError):
            report = CapacityReport.model_validate_json(message.body)
            self.runners.add(report.runner_id)
            self.peak.saw(sum(1 for job_id in report.running if job_id in self.peak.ids))


async def watch_database(db: Database, key: str, peak: Peak, stop: asyncio.Event) -> None:
    """Counts the key's RUNNING jobs in the database until ``stop``."""
    while not stop.is_set():
        running = await db["jobs"].count_documents({"concurrency_key": key, "state": "RUNNING"})
        peak.saw(running)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.02)


def most_at_once(docs: list[Doc]) -> int:
    """The most jobs whose recorded runs (RUNNING to their end, every attempt) overlap. A slot is
    given back after the end is written and taken before the next RUNNING, so the stamps of one
    key's jobs never overlap more than its limit."""
    events: list[tuple[float, int]] = []
    for doc in docs:
        for stamps in (doc.get("timeline") or {}).values():
            start = stamps.get("RUNNING")
            ends = [float(stamps[s]) for s in (*map(str, TERMINAL), "IN_QUEUE", "AWAITING_SUBTASKS")
                    if s in stamps and float(stamps[s]) >= float(start or 0)]  # fmt: skip
            if start is not None and ends:
                events += [(float(start), 1), (min(ends), -1)]
    most = running = 0
    for _, step in sorted(events):  # an end sorts before a start at the same instant
        running += step
        most = max(most, running)
    return most


async def delete_park_queues(settings: Settings, *keys: str) -> None:
    names = Bus(settings).names
    await delete_queues(settings, *(names.park_queue(k) for k in keys), exchanges=(names.park_exchange,))
