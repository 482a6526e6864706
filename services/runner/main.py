"""Runs a runner: consumes its cluster's queue, executes tasks, reports capacity until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from laneyard.services.runner import cancel_listener
from laneyard.services.runner.demo_tasks import demo
from laneyard.services.runner.registry import Registry, default_registry, import_task_modules
from laneyard.services.runner.reporter import report_loop
from laneyard.services.runner.worker import Worker, describe
from laneyard.shared import log_config
from laneyard.shared.amqp import watchdog
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.metrics import server as metrics_server
from laneyard.shared.settings import Settings
from laneyard.shared.store import runners as runner_store
from laneyard.shared.store.database import connect

log = logging.getLogger("laneyard.runner")


def build_registry(settings: Settings) -> Registry:
    registry = Registry()
    if settings.runner_demo_tasks:
        registry.merge(demo)
    modules = [m.strip() for m in settings.runner_tasks.split(",") if m.strip()]
    import_task_modules(modules)
    registry.merge(default_registry)
    return registry


async def serve(settings: Settings) -> None:
    registry = build_registry(settings)
    metrics_server.start(settings.metrics_port)
    client, db = connect(settings)
    bus = Bus(settings)
    await bus.connect()
    watchdog_task = watchdog.start(bus, settings.amqp_broken_exit_seconds)
    worker = Worker(settings, bus, db, registry)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    reporter_stop = asyncio.Event()
    reporter = asyncio.create_task(
        report_loop(bus, db, worker.ledger, settings.heartbeat_seconds, reporter_stop)
    )
    # Recorded before the first job can be claimed: every RUNNING job's runner then has a heartbeat
    # record, which is what the dispatcher's reaper goes by if this runner dies.
    await runner_store.record(db, worker.ledger.report())
    await worker.start()
    await cancel_listener.listen(bus, worker)
    log.info("runner started: %s", describe(worker))
    await stop.wait()
    log.info("runner draining (grace %.0fs)", settings.shutdown_grace_seconds)
    await worker.drain(settings.shutdown_grace_seconds)
    reporter_stop.set()
    worker.ledger.changed.set()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(reporter, settings.network_timeout)
    with contextlib.suppress(Exception):
        await runner_store.forget(db, worker.id)
    watchdog_task.cancel()
    await bus.close()
    await client.close()
    log.info("runner stopped")


def main(settings: Settings) -> None:
    log_config.configure("runner", settings)
    asyncio.run(serve(settings))
