"""Admission's HTTP API in-process, wired to a real Admitter, RabbitMQ and database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from laneyard.client import AsyncClient, RetryPolicy
from laneyard.services.admission.http_api import create_app
from laneyard.services.admission.listening import listening
from laneyard.services.admission.main import http_server
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.throttling.rates import RateBook
from laneyard.shared.webhooks.config import WebhookConfig


@contextlib.asynccontextmanager
async def api(
    settings: Settings, db: Database, bus: Bus, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Admitter]]:
    """An HTTP client talking in-process to the app of one admission replica."""
    s = settings.model_copy(update=overrides)
    rates = RateBook(db, s)
    admitter = Admitter(
        bus, db, s.max_args_bytes, cache_seconds=s.admission_cache_seconds, rates=rates,
        webhooks=WebhookConfig.of(s),
    )  # fmt: skip
    app = create_app(admitter, db, s, rates)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admission", timeout=30) as client:
        yield client, admitter


@contextlib.asynccontextmanager
async def laneyard_client(
    settings: Settings,
    db: Database,
    bus: Bus,
    *,
    api_key: str | None = None,
    wrap: Callable[[httpx.AsyncBaseTransport], httpx.AsyncBaseTransport] | None = None,
    **overrides: Any,
) -> AsyncIterator[AsyncClient]:
    """The public ``AsyncClient`` talking in-process to one admission replica's app; ``wrap`` may put
    a transport in between (to drop or fail requests on the way)."""
    s = settings.model_copy(update=overrides)
    rates = RateBook(db, s)
    admitter = Admitter(
        bus, db, s.max_args_bytes, cache_seconds=s.admission_cache_seconds, rates=rates,
        webhooks=WebhookConfig.of(s),
    )  # fmt: skip
    transport: httpx.AsyncBaseTransport = httpx.ASGITransport(app=create_app(admitter, db, s, rates))
    if wrap is not None:
        transport = wrap(transport)
    fast = RetryPolicy(attempts=4, base=0.01, cap=0.05)
    async with AsyncClient(
        "http://admission", api_key, transport=transport, retry=fast, timeout=30
    ) as client:
        yield client


@contextlib.asynccontextmanager
async def served(settings: Settings, db: Database, bus: Bus, **overrides: Any) -> AsyncIterator[str]:
    """One admission replica's app behind its real HTTP(S) server (uvicorn, configured as
    ``laneyard admission`` configures it) on ``settings.http_port``; yields its base URL."""
    s = settings.model_copy(update=overrides)
    rates = RateBook(db, s)
    admitter = Admitter(
        bus, db, s.max_args_bytes, cache_seconds=s.admission_cache_seconds, rates=rates,
        webhooks=WebhookConfig.of(s),
    )  # fmt: skip
    server = http_server(create_app(admitter, db, s, rates), s)
    serving = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.02)
        if not server.started:
            if serving.done():
                serving.result()  # raises why it could not start
            raise RuntimeError(f"admission's HTTP server did not start on port {s.http_port}")
        yield f"{listening(s).scheme}://127.0.0.1:{s.http_port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, 30)
