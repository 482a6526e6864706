"""Admission's HTTP API wired to a real Admitter, RabbitMQ and database."""

from __future__ import annotations

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.admission import api


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
