"""Admitting one submission, the same for HTTP and AMQP.

Order matters for never losing a job: the message is published (and confirmed) before the job
document is inserted. If admission dies in between, the dispatcher that receives the message
records the job itself (``shared.store.jobs.insert`` is insert-if-absent on both paths).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable

from aio_pika.abc import ExchangeType
from aiormq.exceptions import ChannelInvalidStateError

from laneyard.shared import lifecycle
from laneyard.shared.admitting.refusal import NotAdmitted, RefusalKind
from laneyard.shared.amqp import probe
from laneyard.shared.amqp.bus import Bus, Unroutable
from laneyard.shared.fair_shards import LANE_ROUTE_HEADER
from laneyard.shared.ids import new_job_id
from laneyard.shared.metrics import admission as admission_metrics
from laneyard.shared.models import JobMessage, Submission, SubmitResult
from laneyard.shared.retention import Retention
from laneyard.shared.states import JobState
from laneyard.shared.store import clusters, idempotency, intakes, jobs, lanes
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.store.job_writes import JobWrites
from laneyard.shared.throttling import intake, key_rates
from laneyard.shared.throttling.rates import RateBook
from laneyard.shared.webhooks.config import WebhookConfig, url_refusal

log = logging.getLogger(__name__)

MAX_KNOWN_INTAKES = 10_000


class Admitter:
    def __init__(
        self,
        bus: Bus,
        db: Database,
        max_args_bytes: int,
        *,
        cache_seconds: float = 2.0,
        rates: RateBook | None = None,
        on_intake: Callable[[str, str, str | None], None] | None = None,
        retention: Retention | None = None,
        webhooks: WebhookConfig | None = None,
    ) -> None:
        self.bus = bus
        self.db = db
        self.max_args_bytes = max_args_bytes
        self.cache_seconds = cache_seconds
        self.rates = rates
        # Called when this replica first sends a lane to its intake queue, to start moving it at once.
        self.on_intake = on_intake
        self.retention = retention or Retention()
        # Without a config (no secret), a submission's callback_url is refused.
        self.webhooks = webhooks or WebhookConfig()
        self._known_lanes: set[tuple[str, str]] = set()
        # (lane, cluster, rated job key or None) -> when this replica last declared its intake queue
        self._known_intakes: dict[tuple[str, str, str | None], float] = {}
        self._known_fair: set[tuple[str, str]] = set()
        # slug -> when it was last seen in the database; a deleted cluster is refused once this expires.
        self._known_clusters: dict[str, float] = {}
        self.writes = JobWrites(db)

    def forget_cluster(self, slug: str) -> None:
        self._known_clusters.pop(slug, None)

    @admission_metrics.counts_rejections(NotAdmitted)
    async def admit(
        self,
        sub: Submission,
        job_id: str | None = None,
        *,
        parent_id: str | None = None,
        schedule_id: str | None = None,
        last_completed_at: float | None = None,
    ) -> SubmitResult:
        size = len(json.dumps(sub.args, separators=(",", ":")))
        if size > self.max_args_bytes:
            raise NotAdmitted(
                RefusalKind.TOO_LARGE, f"args is {size} bytes; the limit is {self.max_args_bytes} bytes"
            )
        if sub.callback_url is not None:
            why = url_refusal(sub.callback_url, self.webhooks)
            if why is not None:
                raise NotAdmitted(RefusalKind.INVALID, f"callback_url: {why}")
        await self._check_cluster(sub.cluster)

        job_id = job_id or new_job_id()
        try:
            job = JobMessage.from_submission(sub, job_id)
            job.schedule_id, job.last_completed_at = schedule_id, last_completed_at
            job.retention_days = self.retention.days_for(sub.lane, sub.retention_days)
            if parent_id is not None:
                job.parent_id = parent_id
        except (ValueError, OverflowError) as exc:
            # A naive start_at near year 1 or 9999 has no epoch time in the local zone.
            raise NotAdmitted(RefusalKind.INVALID, f"start_at {sub.start_at} cannot be used: {exc}") from exc
        if sub.idempotency_key is not None:
            owner, mine = await idempotency.claim(self.db, sub.idempotency_key, job_id)
            if mine and owner != job_id:
                job.id = job_id = owner  # a stale claim taken over keeps its job id
            elif not mine:
                doc = await self._recorded(owner)
                if doc is None:
                    # The first submission has not published and recorded its job (yet): answering
                    # "duplicate" now would hand out the id of a job that may never exist. Its claim
                    # goes stale after a while, and a retry then takes it over.
                    raise NotAdmitted(
                        RefusalKind.RETRY,
                        f"a submission with idempotency key {sub.idempotency_key!r} is still in "
                        "progress or did not go through; retry it",
                        retry_after=1.0,
                    )
                state = JobState(doc["state"])
                admission_metrics.JOBS_DEDUPLICATED.labels(sub.lane, sub.cluster).inc()
                return SubmitResult(id=owner, state=state, duplicate=True)

        try:
            await self._ensure_lane(job.lane, job.cluster)
            if job.fairness_key is not None:
                await self._ensure_fair(job.lane, job.cluster)
            limited, rated = (
                await self.rates.intake_for(job.lane, job.cluster, key_rates.job_keys(job))
                if self.rates is not None
                else (False, None)
            )
            if limited:
                await self._to_intake(job, rated)
                admission_metrics.JOBS_THROTTLED.labels(job.lane, job.cluster).inc()
            else:
                await self._to_lane(job)
        except (Unroutable, ChannelInvalidStateError, NotAdmitted):
            # A refusal, or a channel closed before the publish, is certain to have published nothing;
            # after a timeout the job may exist.
            if sub.idempotency_key is not None:
                await idempotency.release(self.db, sub.idempotency_key, job_id)
            raise
        await lifecycle.record(self.writes, job)
        admission_metrics.JOBS_ADMITTED.labels(job.lane, job.cluster).inc()
        log.debug("admitted %s to %s.%s", job.task, job.lane, job.cluster, extra={"job_id": job.id})
        return SubmitResult(id=job.id, state=JobState.IN_QUEUE)

    async def _recorded(self, job_id: str, within: float = 2.0) -> Doc | None:
        """The job's document, waiting briefly for a submission racing on the same key to record it."""
        deadline = time.monotonic() + within
        while True:
            doc = await jobs.get(self.db, job_id)
            if doc is not None or time.monotonic() >= deadline:
                return doc
            await asyncio.sleep(0.05)

    async def _check_cluster(self, slug: str) -> None:
        seen = self._known_clusters.get(slug)
        if seen is not None and time.monotonic() - seen < self.cache_seconds:
            return
        doc = await clusters.get(self.db, slug)
        if doc is None:
            self._known_clusters.pop(slug, None)
            raise NotAdmitted(RefusalKind.NOT_FOUND, f"unknown cluster {slug!r}")
        if doc.get("deleting"):
            raise NotAdmitted(RefusalKind.CONFLICT, f"cluster {slug!r} is being deleted")
        self._known_clusters[slug] = time.monotonic()

    async def _to_lane(self, job: JobMessage) -> None:
        """Publishes into the job's lane. A process that does not declare queues (a runner spawning
        a sub-task) may see a new lane's queue a moment before the dispatcher has bound it: an
        unroutable publish is tried again for up to ``network_timeout``."""
        deadline = time.monotonic() + self.bus.settings.network_timeout
        pause = 0.02
        while True:
            try:
                await self.bus.to_lane(job)
                return
            except Unroutable:
                if self.bus.declares or time.monotonic() + pause > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.5)

    async def _to_intake(self, job: JobMessage, key: str | None) -> None:
        """Into the lane's intake queue, or the rated job key's. A key's queue is declared again and
        its record touched every ``KEY_TOUCH_SECONDS``: its mover deletes it once idle."""
        await self._declare_intake(job.lane, job.cluster, key)
        try:
            await self._publish_intake(job, key)
        except Unroutable:
            if key is None:
                raise
            # Its mover deleted the queue as idle just before this replica's touch: declare it again.
            await self._declare_intake(job.lane, job.cluster, key, again=True)
            await self._publish_intake(job, key)

    async def _declare_intake(self, lane: str, cluster: str, key: str | None, again: bool = False) -> None:
        ident = (lane, cluster, key)
        now = time.monotonic()
        seen = self._known_intakes.get(ident)
        if not again and seen is not None and (key is None or now - seen < intake.KEY_TOUCH_SECONDS):
            return
        await intake.declare(self.bus.topology, lane, cluster, key)
        await intakes.register(self.db, lane, cluster, key)
        if self.on_intake is not None:
            self.on_intake(lane, cluster, key)
        if len(self._known_intakes) >= MAX_KNOWN_INTAKES:  # bounded: keys come and go
            fresh = intake.KEY_TOUCH_SECONDS
            self._known_intakes = {
                i: t for i, t in self._known_intakes.items() if i[2] is None or now - t < fresh
            }
        self._known_intakes[ident] = now

    async def _publish_intake(self, job: JobMessage, key: str | None) -> None:
        await self.bus.publish(
            intake.exchange_name(self.bus.names),
            ExchangeType.DIRECT,
            job.model_dump_json().encode(),
            intake.routing_key(self.bus.names, job.lane, job.cluster, key),
            # The mover sends it on to the lane queue it would have gone to (a fairness shard's).
            headers={LANE_ROUTE_HEADER: self.bus.lane_route(job)},
            priority=job.priority,
            message_id=job.id,
        )

    async def _ensure_fair(self, lane: str, cluster: str) -> None:
        """A lane's first job with a fairness key: its shard queues, and dispatchers told to take
        turns between them (``services/dispatcher/fair_lane.py``)."""
        if (lane, cluster) in self._known_fair:
            return
        shards = range(self.bus.settings.fairness_shards)
        if self.bus.declares:
            for shard in shards:
                await self.bus.topology.lane_shard_queue(lane, cluster, shard)
        await lanes.register(self.db, lane, cluster, fair=True)
        await self.bus.publish(
            self.bus.names.control_exchange,
            ExchangeType.FANOUT,
            json.dumps({"type": "lane", "lane": lane, "cluster": cluster, "fair": True}).encode(),
            transient=True,
        )
        if not self.bus.declares:
            await self._await_dispatcher(
                [self.bus.names.lane_shard_queue(lane, cluster, shard) for shard in shards],
                f"the fairness shards of lane {lane!r} of cluster {cluster!r} are not ready",
                "a dispatcher declares a lane's fairness shards when told of them",
            )
        self._known_fair.add((lane, cluster))

    async def _ensure_lane(self, lane: str, cluster: str) -> None:
        if (lane, cluster) in self._known_lanes:
            return
        if self.bus.declares:
            await self.bus.topology.lane_queue(lane, cluster)
        await lanes.register(self.db, lane, cluster)
        # Dispatchers learn of the new lane at once instead of at their next refresh.
        await self.bus.publish(
            self.bus.names.control_exchange,
            ExchangeType.FANOUT,
            json.dumps({"type": "lane", "lane": lane, "cluster": cluster}).encode(),
            transient=True,
        )
        if not self.bus.declares:
            # A runner spawning a sub-task may not declare queues; dispatchers declare the new
            # lane's queue on the notice just sent.
            await self._await_dispatcher(
                [self.bus.names.lane_queue(lane, cluster)],
                f"lane {lane!r} of cluster {cluster!r} is not ready",
                "a dispatcher declares a new lane's queue when told of it",
            )
        self._known_lanes.add((lane, cluster))

    async def _await_dispatcher(self, queues: list[str], not_ready: str, declared_by: str) -> None:
        """Waits for queues a dispatcher declares; a refusal to retry if they do not come in time."""
        try:
            await self.bus.await_declared(
                [], queues, declared_by=declared_by, within=self.bus.settings.network_timeout
            )
        except probe.NotDeclared as exc:
            raise NotAdmitted(RefusalKind.RETRY, f"{not_ready}: {exc}", retry_after=1.0) from exc
