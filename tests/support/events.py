"""The event stream in tests: sequencing what is staged, admission replicas that sequence, reading
streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx

from laneyard.client import AsyncClient, RetryPolicy
from laneyard.client.events import Reader
from laneyard.services.admission.events.sequencer import Sequencer
from laneyard.services.admission.events.service import EventService
from laneyard.services.admission.http_api import create_app
from laneyard.services.admission.main import http_server
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.throttling.rates import RateBook
from laneyard.shared.views.events import Event


async def sequenced(db: Database, settle_seconds: float = 30.0) -> int:
    """Sequences every staged change that happened; returns how many events it appended."""
    sequencer = Sequencer(db, retention_seconds=3600, settle_seconds=settle_seconds)
    total = 0
    while appended := await sequencer.step():
        total += appended
    return total


def events_in(response: httpx.Response) -> list[Event]:
    """The events of a whole (``follow=false``) stream's body."""
    assert response.status_code == 200, response.text
    reader = Reader()
    found = [reader.line(line) for line in response.text.split("\n")]
    return [e for e in found if e is not None]


@contextlib.asynccontextmanager
async def replica(settings: Settings, db: Database, bus: Bus, **overrides: Any) -> AsyncIterator[str]:
    """One admission replica with its event stream and sequencer, behind uvicorn on its own port;
    yields its base URL."""
    s = settings.model_copy(update=overrides)
    rates = RateBook(db, s)
    admitter = Admitter(bus, db, s.max_args_bytes, cache_seconds=s.admission_cache_seconds, rates=rates)
    service = EventService(db, s)
    server = http_server(create_app(admitter, db, s, rates, events=service), s)
    serving = asyncio.create_task(server.serve())
    service.start()
    try:
        for _ in range(500):
            if server.started or serving.done():
                break
            await asyncio.sleep(0.02)
        if not server.started:
            serving.result()
            raise RuntimeError(f"admission did not start on port {s.http_port}")
        yield f"http://127.0.0.1:{s.http_port}"
    finally:
        await service.stop()
        server.should_exit = True
        await asyncio.wait_for(serving, 30)


def client(url: str, api_key: str | None = None) -> AsyncClient:
    return AsyncClient(url, api_key, retry=RetryPolicy(attempts=4, base=0.05, cap=0.2), timeout=10)


async def take(
    url: str,
    count: int,
    *,
    api_key: str | None = None,
    after: int | None = None,
    within: float = 20.0,
    filters: Mapping[str, Any] | None = None,
) -> list[Event]:
    """The next ``count`` events of a stream from ``url`` (after event ``after``)."""
    got: list[Event] = []
    async with client(url, api_key) as c, asyncio.timeout(within):
        async with contextlib.aclosing(c.events(after=after, **(filters or {}))) as stream:
            async for event in stream:
                got.append(event)
                if len(got) == count:
                    break
    return got
