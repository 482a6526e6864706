"""Admission's real HTTP server: HTTPS from the settings, and X-Forwarded-For believed only from a
trusted proxy (the failed-authentication limit counts per ``request.client.host``)."""

from __future__ import annotations

import httpx
import pytest

from laneyard.services.admission.auth_failures import FailureLimiter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.admission import served
from tests.support.tls import Certificates

LIMIT = FailureLimiter().limit  # failed authentications an address may make before it is told to wait
PROXY = "127.0.0.2"  # loopback too, but another peer address than the tests' 127.0.0.1


async def test_admission_serves_https_with_the_certificate_from_the_settings(
    settings: Settings, db: Database, bus: Bus, certificates: Certificates
) -> None:
    tls = {
        "http_tls_certfile": str(certificates.server.cert),
        "http_tls_keyfile": str(certificates.server.key),
    }
    async with served(settings, db, bus, **tls) as url:
        assert url.startswith("https://")
        async with httpx.AsyncClient(verify=certificates.client_context(), timeout=10) as client:
            assert (await client.get(f"{url}/healthz")).json() == {"status": "ok"}
            made = await client.post(f"{url}/v1/jobs", json={"task": "demo.noop", "tier": "TINY"})
            assert made.status_code == 202, made.text
        async with httpx.AsyncClient(timeout=10) as plain:
            with pytest.raises(httpx.RemoteProtocolError):
                await plain.get(url.replace("https://", "http://") + "/healthz")
        # A client that trusts only the public CAs refuses the test CA's certificate.
        async with httpx.AsyncClient(timeout=10, verify=httpx.create_ssl_context(trust_env=False)) as system:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await system.get(f"{url}/healthz")


async def failures_until_limited(client: httpx.AsyncClient, url: str, forwarded_for: str) -> None:
    for _ in range(LIMIT):
        reply = await client.get(f"{url}/v1/status", headers={"X-Forwarded-For": forwarded_for})
        assert reply.status_code == 401, reply.text


async def status_code(client: httpx.AsyncClient, url: str, forwarded_for: str) -> int:
    reply = await client.get(f"{url}/v1/status", headers={"X-Forwarded-For": forwarded_for})
    return reply.status_code


async def test_x_forwarded_for_counts_only_from_a_trusted_proxy(
    settings: Settings, db: Database, bus: Bus
) -> None:
    behind = {"api_keys": "k-listening:read", "forwarded_allow_ips": PROXY}
    proxy = httpx.AsyncHTTPTransport(local_address=PROXY)
    async with (
        served(settings, db, bus, **behind) as url,
        httpx.AsyncClient(transport=proxy, timeout=10) as via_proxy,
        httpx.AsyncClient(timeout=10) as direct,
    ):
        # Through the trusted proxy, each forwarded client is counted on its own.
        await failures_until_limited(via_proxy, url, "203.0.113.7")
        assert await status_code(via_proxy, url, "203.0.113.7") == 429
        assert await status_code(via_proxy, url, "203.0.113.8") == 401

        # A peer that is not a trusted proxy is counted under its own address whatever it forwards,
        # so changing X-Forwarded-For on every try does not escape the limit.
        for n in range(LIMIT):
            assert await status_code(direct, url, f"198.51.100.{n}") == 401
        assert await status_code(direct, url, "198.51.100.250") == 429


async def test_no_proxy_is_trusted_by_default_not_even_on_loopback(
    settings: Settings, db: Database, bus: Bus, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert settings.forwarded_allow_ips == ""
    monkeypatch.setenv("FORWARDED_ALLOW_IPS", "*")  # uvicorn's own setting, which admission does not read
    async with served(settings, db, bus, api_keys="k-listening:read") as url, httpx.AsyncClient() as client:
        for n in range(LIMIT):
            assert await status_code(client, url, f"192.0.2.{n}") == 401
        assert await status_code(client, url, "192.0.2.250") == 429
