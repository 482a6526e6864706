"""Runs admission: the HTTP API and the AMQP ingress on one event loop."""

from __future__ import annotations

import asyncio
import logging

import uvicorn

from laneyard.services.admission import exposure
from laneyard.services.admission.amqp_ingress import AmqpIngress
from laneyard.services.admission.auth import Auth, load_keys
from laneyard.services.admission.http_api import create_app
from laneyard.services.admission.throttling.mover import Movers
from laneyard.shared import log_config
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp import watchdog
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store import clusters
from laneyard.shared.store.database import connect, ensure_indexes
from laneyard.shared.throttling.rates import RateBook

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
    )
    app = create_app(admitter, db, settings, rates)
    ingress = AmqpIngress(bus, db, admitter)
    await ingress.start()
    await movers.start()
    config = uvicorn.Config(
        app,
        host=settings.http_host,
        port=settings.http_port,
        log_config=None,
        access_log=False,
        lifespan="off",
    )
    server = uvicorn.Server(config)
    Auth(load_keys(settings.api_keys, settings.api_keys_file)).warn_if_open()
    log.info("admission listening on http://%s:%d", settings.http_host, settings.http_port)
    try:
        await server.serve()
    finally:
        await movers.stop()
        watchdog_task.cancel()
        await bus.close()
        await client.close()


def main(settings: Settings) -> None:
    log_config.configure("admission", settings)
    keys = load_keys(settings.api_keys, settings.api_keys_file)
    why = exposure.refusal(settings.http_host, bool(keys), settings.allow_open)
    if why is not None:
        log.error(why)
        raise SystemExit(f"laneyard admission: {why}")
    asyncio.run(serve(settings))
