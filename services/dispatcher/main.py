"""Runs the dispatcher: the lease, lane consumers, the capacity listener and housekeeping.

Any number of dispatchers may run; the one holding the dispatch lease (a MongoDB document renewed
every second) consumes the lanes, the others stand by with their capacity view kept warm by the
same reports. A lease rather than RabbitMQ's single-active-consumer: single-active-consumer is per
queue, so two dispatchers could each be active on a different lane of one cluster and book the
same capacity twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import time

from aio_pika.abc import AbstractIncomingMessage
from pydantic import ValidationError

from laneyard.services.dispatcher.concurrency_sweep import ConcurrencySweep
from laneyard.services.dispatcher.dispatch import Dispatch
from laneyard.services.dispatcher.expiry_loop import ExpiryLoop
from laneyard.services.dispatcher.lane_consumers import LaneConsumers
from laneyard.services.dispatcher.pause_watch import PauseWatch
from laneyard.services.dispatcher.reaper import Reaper
from laneyard.services.dispatcher.schedules import ScheduleLoop
from laneyard.services.dispatcher.webhook_sender import WebhookSender
from laneyard.shared import log_config
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp import watchdog
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.amqp.roles import Role
from laneyard.shared.ids import new_process_id
from laneyard.shared.metrics import dispatch as dispatch_metrics
from laneyard.shared.metrics import server as metrics_server
from laneyard.shared.models import CapacityReport
from laneyard.shared.retention import Retention
from laneyard.shared.settings import Settings
from laneyard.shared.store import fairness_weights
from laneyard.shared.store import lanes as lane_store
from laneyard.shared.store import runners as runner_store
from laneyard.shared.store.database import connect, ensure_indexes
from laneyard.shared.store.leases import Lease
from laneyard.shared.throttling.rates import RateBook
from laneyard.shared.webhooks.config import WebhookConfig

log = logging.getLogger("laneyard.dispatcher")

HOUSEKEEPING_SECONDS = 0.5
LEASE_RENEW_SECONDS = 1.0
DEPTH_SECONDS = 1.0
LANE_REFRESH_SECONDS = 5.0
INFLIGHT_TIMEOUT_SECONDS = 30.0


class DispatcherService:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.id = new_process_id()
        self.bus = Bus(settings, Role.DISPATCHER)
        self.client, self.db = connect(settings)
        self.lease = Lease(self.db, "dispatcher", self.id, ttl=settings.lease_seconds)
        self.dispatch = Dispatch(self.bus, self.db, settings, self.lease)
        # Scheduled jobs are admitted exactly like submitted ones, by admission's own Admitter.
        admitter = Admitter(
            self.bus,
            self.db,
            settings.max_args_bytes,
            cache_seconds=settings.admission_cache_seconds,
            rates=RateBook(self.db, settings),
            retention=Retention.of(settings),
            webhooks=WebhookConfig.of(settings),
        )
        self.schedules = ScheduleLoop(
            admitter, self.db, lambda: self.lease.held, tick_timeout=3 * settings.network_timeout
        )
        self.reaper = Reaper(self.bus, self.db, settings, lambda: self.lease.held)
        self.pause_watch = PauseWatch(self.db, settings.network_timeout)
        self.expiry = ExpiryLoop(self.db, settings, lambda: self.lease.held)
        self.webhooks = WebhookSender(self.db, settings, lambda: self.lease.held)
        self.concurrency = ConcurrencySweep(
            self.dispatch.gate, self.db, settings.concurrency_sweep_seconds, settings.network_timeout,
            lambda: self.lease.held,
        )  # fmt: skip
        self.lanes: LaneConsumers | None = None
        self.watchdog: asyncio.Task[None] | None = None
        self.runner_timeout = settings.heartbeat_seconds * settings.heartbeat_misses

    async def start(self) -> None:
        await ensure_indexes(self.db)
        await self.bus.connect()
        self.watchdog = watchdog.start(self.bus, self.settings.amqp_broken_exit_seconds)
        # Warm start: runners that reported recently count before their next report arrives.
        now = time.time()
        for doc in await runner_store.alive(self.db, self.runner_timeout):
            with contextlib.suppress(ValidationError):
                report = CapacityReport.model_validate(doc)
                self.dispatch.clusters[report.cluster].apply(report, float(doc.get("last_seen", now)))

        _, topology = await self.bus.consumer_channel(self.settings.dispatcher_prefetch)
        _, fair_topology = await self.bus.consumer_channel(self.settings.fairness_prefetch)
        self.lanes = LaneConsumers(
            topology, self.dispatch.on_message, fair_topology, self.settings.fairness_shards
        )
        self.dispatch.lanes = self.lanes
        reports = await topology.listener_queue(self.bus.names.capacity_exchange)
        await reports.consume(self.on_report, no_ack=True)
        control = await topology.listener_queue(self.bus.names.control_exchange)
        await control.consume(self.on_control, no_ack=True)
        await self.refresh_lanes()
        # Before the lease lets the lanes go: a paused lane must not dispatch even for a moment.
        await self.pause_watch.refresh(self.lanes, now=True)
        await self.renew_lease()
        log.info("dispatcher %s started (threshold %.2f)", self.id, self.settings.capacity_threshold)

    async def renew_lease(self) -> None:
        try:
            held = await self.lease.renew()
        except Exception:
            log.exception("renewing the dispatch lease failed")
            held = self.lease.held
        dispatch_metrics.LEADER.set(1 if held else 0)
        if self.lanes is not None and held != self.lanes.active:
            log.info("dispatcher %s %s the dispatch lease", self.id, "holds" if held else "lost")
            self.dispatch.ages.clear()
            await self.lanes.set_active(held)

    async def refresh_lanes(self) -> None:
        assert self.lanes is not None
        for doc in await lane_store.all_lanes(self.db):
            await self.lanes.add(doc["lane"], doc["cluster"])
            if doc.get("fair"):
                await self.lanes.make_fair(doc["lane"], doc["cluster"])
        self.lanes.weights = await fairness_weights.all_weights(self.db)
        await self.dispatch.gate.refresh()

    async def measure_depths(self) -> None:
        assert self.lanes is not None
        for cluster, lane in list(self.lanes.consumers):
            depth = 0
            for queue in self.lanes.queues_of(cluster, lane):
                # Re-declaring with the same arguments is idempotent and answers with the queue's depth.
                ok = await asyncio.wait_for(queue.declare(), self.settings.network_timeout)
                depth += int(ok.message_count or 0)
            self.dispatch.depth[(cluster, lane)] = depth
            age = self.dispatch.ages.oldest_age((cluster, lane), depth, time.time())
            dispatch_metrics.observe_lane(lane, cluster, depth, age)

    async def on_report(self, message: AbstractIncomingMessage) -> None:
        try:
            report = CapacityReport.model_validate_json(message.body)
        except ValidationError:
            log.warning("ignoring an undecodable capacity report")
            return
        self.dispatch.clusters[report.cluster].apply(report, time.time())
        try:
            # Runners may not declare queues: a cluster's queue is declared once one of its runners
            # reports, and the runner waits for it (a no-op once declared).
            await self.bus.topology.cluster_queue(report.cluster)
        except Exception:
            log.exception(
                "declaring the queue of cluster %s failed; its next report tries again", report.cluster
            )
        await self.dispatch.release_held_lanes(time.time())
        try:
            # A runner reports as soon as a job ends: the moment a concurrency slot may have freed.
            await self.dispatch.gate.wake()
        except Exception:
            log.exception("moving parked jobs back failed; the next report or tick tries again")

    async def on_control(self, message: AbstractIncomingMessage) -> None:
        try:
            event = json.loads(message.body)
            if event.get("type") == "lane" and self.lanes is not None:
                await self.lanes.add(str(event["lane"]), str(event["cluster"]))
                if event.get("fair"):
                    await self.lanes.make_fair(str(event["lane"]), str(event["cluster"]))
            elif event.get("type") == "fairness" and self.lanes is not None:
                self.lanes.weights = await fairness_weights.all_weights(self.db)
            elif event.get("type") == "concurrency":
                await self.dispatch.gate.refresh()
                await self.dispatch.gate.wake()  # a raised limit frees slots at once
            elif event.get("type") == "pause" and self.lanes is not None:
                try:
                    await self.pause_watch.refresh(self.lanes, now=True)
                except Exception:
                    log.exception("reading the pauses failed; the housekeeping loop tries again")
        except (ValueError, KeyError):
            log.warning("ignoring an undecodable control message")

    async def housekeeping(self, stop: asyncio.Event) -> None:
        last = {"lease": time.monotonic(), "depth": 0.0, "lanes": time.monotonic()}
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HOUSEKEEPING_SECONDS)
            mono, now = time.monotonic(), time.time()
            if mono - last["lease"] >= LEASE_RENEW_SECONDS:
                last["lease"] = mono
                await self.renew_lease()
            for cluster, capacity in list(self.dispatch.clusters.items()):
                for runner_id in capacity.expire(now, self.runner_timeout, INFLIGHT_TIMEOUT_SECONDS):
                    log.warning("runner %s missed its heartbeats; its capacity is withdrawn", runner_id)
                dispatch_metrics.observe_cluster(
                    cluster, len(capacity.runners), capacity.totals(), capacity.threshold
                )
            try:
                if mono - last["depth"] >= DEPTH_SECONDS:
                    last["depth"] = mono
                    await self.measure_depths()
                if mono - last["lanes"] >= LANE_REFRESH_SECONDS:
                    last["lanes"] = mono
                    await self.refresh_lanes()
                if self.lanes is not None:
                    await self.pause_watch.refresh(self.lanes)

                await self.dispatch.release_held_lanes(now)
                await self.dispatch.gate.wake()
            except Exception:
                log.exception("housekeeping failed; trying again")

    async def close(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
        if self.lanes is not None:
            await self.lanes.close()
        with contextlib.suppress(Exception):
            await self.lease.release()
        await self.bus.close()
        await self.client.close()


async def serve(settings: Settings) -> None:
    service = DispatcherService(settings)
    metrics_server.start(settings.metrics_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await service.start()
    schedule_loop = asyncio.create_task(service.schedules.run(stop))
    reaper_loop = asyncio.create_task(service.reaper.run(stop))
    expiry_loop = asyncio.create_task(service.expiry.run(stop))
    webhook_loop = asyncio.create_task(service.webhooks.run(stop))
    concurrency_loop = asyncio.create_task(service.concurrency.run(stop))
    try:
        await service.housekeeping(stop)
    finally:
        stop.set()
        for loop_task in (schedule_loop, reaper_loop, expiry_loop, webhook_loop, concurrency_loop):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(loop_task, settings.network_timeout)
        await service.close()
        log.info("dispatcher stopped")


def main(settings: Settings) -> None:
    log_config.configure("dispatcher", settings)
    asyncio.run(serve(settings))
