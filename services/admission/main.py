"""Runs admission: the HTTP API and the AMQP ingress on one event loop."""

from __future__ import annotations

import asyncio
import logging
import ssl

import uvicorn
from fastapi import FastAPI

from laneyard.services.admission import exposure
from laneyard.services.admission.amqp_ingress import AmqpIngress
from laneyard.services.admission.auth import Auth, load_keys
from laneyard.services.admission.events.service import EventService
from laneyard.services.admission.http_api import create_app
from laneyard.services.admission.listening import Listening, listening, server_options
from laneyard.services.admission.throttling.mover import Movers
from laneyard.shared import log_config
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp import watchdog
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.retention import Retention
from laneyard.shared.settings import Settings
from laneyard.shared.store import clusters
from laneyard.shared.store.database import connect, ensure_indexes
from laneyard.shared.throttling.rates import RateBook
from laneyard.shared.webhooks.config import WebhookConfig

log = logging.getLogger("laneyard.admission")


async def serve(settings: Settings) -> None:
    client, db = connect(settings)
    await ensure_indexes(db)
    await clusters.ensure_default(db)
    bus = Bus(settings)
    await bus.connect()
    watchdog_task = watchdog.start(bus, settings.amqp_broken_exit_seconds)
    rates = RateBook(db, settings)
    movers = Movers(
        bus, db, rates, settings.throttle_window_seconds, refresh=settings.admission_cache_seconds
    )
    admitter = Admitter(
        bus,
        db,
        settings.max_args_bytes,
        cache_seconds=settings.admission_cache_seconds,
        rates=rates,
        on_intake=movers.ensure,
        retention=Retention.of(settings),
        webhooks=WebhookConfig.of(settings),
    )
    events = EventService(db, settings)
    app = create_app(admitter, db, settings, rates, events=events)
    events.start()
    ingress = AmqpIngress(bus, db, admitter)
    await ingress.start()
    await movers.start()
    server = http_server(app, settings)
    Auth(load_keys(settings.api_keys, settings.api_keys_file)).warn_if_open()
    chosen = listening(settings)
    log.info("admission listening on %s://%s:%d", chosen.scheme, settings.http_host, settings.http_port)
    if chosen.trusted_proxies:
        log.info("believing X-Forwarded-For/-Proto from %s", ",".join(chosen.trusted_proxies))
    try:
        await server.serve()
    finally:
        await events.stop()
        await movers.stop()
        watchdog_task.cancel()
        await bus.close()
        await client.close()


def http_server(app: FastAPI, settings: Settings) -> uvicorn.Server:
    """Admission's HTTP(S) server for ``app``, as the settings ask (services/admission/listening.py)."""
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="off",
        **server_options(listening(settings)),
    )
    return uvicorn.Server(config)


def tls_refusal(chosen: Listening) -> str | None:
    """Why the HTTPS certificate or key cannot be used, read before anything starts; None if they can."""
    if chosen.certfile is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # An empty passphrase: an encrypted key fails here instead of OpenSSL prompting on the terminal.
        context.load_cert_chain(chosen.certfile, chosen.keyfile, password=b"")
    except (OSError, ssl.SSLError) as exc:
        return f"cannot use LANEYARD_HTTP_TLS_CERTFILE/KEYFILE ({chosen.certfile}, {chosen.keyfile}): {exc}"
    return None


def main(settings: Settings) -> None:
    log_config.configure("admission", settings)
    keys = load_keys(settings.api_keys, settings.api_keys_file)
    why = exposure.refusal(settings.http_host, bool(keys), settings.allow_open)
    if why is None:
        try:
            why = tls_refusal(listening(settings))
        except ValueError as exc:
            why = str(exc)
    if why is not None:
        log.error(why)
        raise SystemExit(f"laneyard admission: {why}")
    asyncio.run(serve(settings))
