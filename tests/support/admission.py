"""Admission's HTTP API in-process, wired to a real Admitter, RabbitMQ and database."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from laneyard.services.admission.http_api import create_app
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.throttling.rates import RateBook


@contextlib.asynccontextmanager
async def api(
    settings: Settings, db: Database, bus: Bus, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, Admitter]]:
    """An HTTP client talking in-process to the app of one admission replica."""
    s = settings.model_copy(update=overrides)
    rates = RateBook(db, s)
    admitter = Admitter(bus, db, s.max_args_bytes, cache_seconds=s.admission_cache_seconds, rates=rates)
    app = create_app(admitter, db, s, rates)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://admission", timeout=30) as client:
        yield client, admitter
