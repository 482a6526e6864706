"""Runs a runner: consumes its cluster's queue, executes tasks, reports capacity until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time

from laneyard.services.runner import cancel_listener
from laneyard.services.runner.demo_tasks import demo
from laneyard.services.runner.registry import Registry, default_registry, import_task_modules
from laneyard.services.runner.reporter import report_loop
from laneyard.services.runner.worker import Worker, describe
from laneyard.shared import log_config
from laneyard.shared.amqp import probe, watchdog
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.amqp.roles import Role
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
    bus = Bus(settings, Role.RUNNER)
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
    try:
        asyncio.run(serve(settings))
    except probe.NotDeclared as exc:
        # No dispatcher (yet): exit to be restarted, as after a broker outage.
        log.error("runner not started: %s", exc)
        raise SystemExit(watchdog.EXIT_TEMPFAIL) from None
    leave_abandoned_threads()


def leave_abandoned_threads(wait: float = 1.0) -> None:
    """Exits now if a task's thread still runs after shutdown (a cancelled or timed-out synchronous
    task: a thread cannot be stopped). Its job is already settled and recorded; waiting for it would
    only keep a stopped runner's process alive, as the interpreter joins worker threads at exit."""
    deadline = time.monotonic() + wait
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join(max(0.0, deadline - time.monotonic()))
    stuck = [t.name for t in threading.enumerate() if t is not threading.main_thread() and not t.daemon]
    if stuck:
        log.warning("exiting with %d abandoned task thread(s) still running: %s", len(stuck), stuck[:5])
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
