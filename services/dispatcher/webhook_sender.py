"""Sending completion webhooks, on the dispatcher holding the lease.

Each tick it takes a bounded batch of due deliveries and tries them, a few at a time, recording
every attempt on its delivery (``shared.store.webhooks``) and when to try again
(``shared.webhooks.retries``). Every ``LANEYARD_WEBHOOK_SWEEP_SECONDS`` (and once when it first
holds the lease) it also creates the deliveries of ended jobs whose ending process died before it
could (``shared.webhooks.outbox``). Delivery is at least once: a sender that dies after a POST and
before recording it sends the same delivery again, with the same ``Laneyard-Delivery`` id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable

import httpx

from laneyard.services.dispatcher import webhook_post
from laneyard.shared import faults
from laneyard.shared.settings import Settings
from laneyard.shared.store import webhooks as store
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.webhooks import outbox
from laneyard.shared.webhooks.config import WebhookConfig
from laneyard.shared.webhooks.retries import Policy, after_attempt

log = logging.getLogger(__name__)

BATCH = 50  # deliveries per tick
CONCURRENCY = 8  # requests in flight at once
SWEEP_BATCH = 200  # marked jobs settled per sweep


class WebhookSender:
    def __init__(self, db: Database, settings: Settings, held: Callable[[], bool]) -> None:
        self.db = db
        self.held = held
        self.config = WebhookConfig.of(settings)
        self.policy = Policy(
            settings.webhook_backoff_base, settings.webhook_backoff_cap, settings.webhook_give_up_seconds
        )
        self.poll = settings.webhook_poll_seconds
        self.sweep_every = settings.webhook_sweep_seconds
        # A full batch at the per-attempt timeout, plus the database writes around it.
        self.tick_timeout = (
            BATCH // CONCURRENCY + 2
        ) * settings.webhook_timeout + 3 * settings.network_timeout
        self._swept_at = float("-inf")
        self._slots = asyncio.Semaphore(CONCURRENCY)

    async def run(self, stop: asyncio.Event) -> None:
        if not self.config.enabled:
            log.warning("LANEYARD_WEBHOOK_SECRET is not set: no webhook is sent; deliveries stay pending")
            return
        async with webhook_post.client(self.config) as http:
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll)
                if stop.is_set() or not self.held():
                    continue
                try:
                    await asyncio.wait_for(self.tick(http), self.tick_timeout)
                except Exception:
                    log.exception("sending webhooks failed; trying again")

    async def tick(self, http: httpx.AsyncClient) -> int:
        """One round: the sweep when it is time, then a batch of due deliveries; how many were tried."""
        if time.monotonic() - self._swept_at >= self.sweep_every:
            await outbox.sweep(self.db, SWEEP_BATCH)
            self._swept_at = time.monotonic()
        due = await store.due(self.db, time.time(), BATCH)
        await asyncio.gather(*(self._send(http, d) for d in due))
        return len(due)

    async def _send(self, http: httpx.AsyncClient, delivery: Doc) -> None:
        async with self._slots:
            number = int(delivery.get("attempts_made") or 0) + 1
            faults.point("webhook_before_post")  # tests only: a crash between a job's end and its POST
            outcome = await webhook_post.attempt(
                http, self.config, str(delivery["url"]), str(delivery["_id"]),
                str(delivery["body"]).encode(), number,
            )  # fmt: skip
            now = time.time()
            changes = after_attempt(
                outcome, failures_before=number - 1, first_due=float(delivery.get("created_at") or now),
                now=now, policy=self.policy, jitter=random.random(),
            )  # fmt: skip
            record = {
                "at": now,
                "status": outcome.status,
                "error": None if outcome.delivered else outcome.describe(),
                "ms": round(outcome.seconds * 1000, 1),
            }
            if not await store.record_attempt(self.db, delivery, record, changes):
                log.warning("another sender recorded an attempt of delivery %s first", delivery["_id"])
            elif not outcome.delivered:
                log.info(
                    "webhook delivery %s attempt %d: %s",
                    delivery["_id"], number, outcome.describe(), extra={"job_id": delivery.get("job_id")},
                )  # fmt: skip
