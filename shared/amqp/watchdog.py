"""Crash-only recovery from a broker that went away and came back wrong.

aio-pika's robust connection reconnects after a broker restart, but a channel it cannot restore
stays closed for good, and a service with a dead channel would accept work it can never publish
or ack. Every service runs this watchdog: when the bus has been broken for longer than
``LANEYARD_AMQP_BROKEN_EXIT_SECONDS`` the process exits with code 75 (EX_TEMPFAIL) and its
supervisor (`laneyard up`, Compose's ``restart: unless-stopped``, systemd, Kubernetes) starts it
again. Nothing is lost by exiting: a message is acked only after its outcome is recorded, so
RabbitMQ redelivers whatever the process held.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time

from laneyard.shared.amqp.bus import Bus

log = logging.getLogger(__name__)

EXIT_TEMPFAIL = 75
CHECK_SECONDS = 1.0


async def watch(bus: Bus, broken_for: float) -> None:
    since: float | None = None
    while True:
        await asyncio.sleep(CHECK_SECONDS)
        if not bus.broken():
            since = None
            continue
        now = time.monotonic()
        since = since if since is not None else now
        if now - since >= broken_for:
            log.critical("the AMQP connection was broken for %.0fs; exiting to be restarted", now - since)
            logging.shutdown()
            os._exit(EXIT_TEMPFAIL)


def start(bus: Bus, broken_for: float) -> asyncio.Task[None]:
    return asyncio.create_task(watch(bus, broken_for), name="amqp-watchdog")
