"""Admission's HTTP API wired to a real Admitter, RabbitMQ and database (helpers shared by its tests)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx

from services.admission.admit import Admitter
from services.admission.http_api import create_app
from services.admission.throttling.rates import RateBook
from shared.amqp.bus import Bus
from shared.settings import Settings
from shared.store.database import Database


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


async def message_count(settings: Settings, queue: str) -> int | None:
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        result = declared.declaration_result
        return int(result.message_count or 0) if result is not None else None
    finally:
        await connection.close()


async def delete_queues(settings: Settings, *names: str, exchanges: tuple[str, ...] = ()) -> None:
    """The queues a test made beyond those ``tests.conftest.delete_topology`` knows about."""
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        for name in names:
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
        for name in exchanges:
            channel = await connection.channel()
            try:
                await channel.exchange_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
    finally:
        await connection.close()


async def test_openapi_document_is_served_at_docs(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus) as (client, _):
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "swagger-ui" in docs.text.lower() and "/openapi.json" in docs.text
        spec = (await client.get("/openapi.json")).json()
        for path in ("/v1/jobs", "/v1/jobs/{job_id}/cancel", "/v1/clusters/{slug}", "/v1/status"):
            assert path in spec["paths"], path
        assert "/v1/throttles/lanes/{lane}" in spec["paths"]
        assert (await client.get("/healthz")).json() == {"status": "ok"}
