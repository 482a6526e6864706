"""Everything over TLS: admission, a dispatcher and a runner as real processes, told only
``amqps://`` and ``tls=true`` URLs and an HTTPS certificate, run jobs submitted over HTTPS and over
``amqps://``; and no service logs the broker's password."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from laneyard.client import AmqpSubmitter, AsyncClient
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.stack import Stack
from tests.support.tls import Certificates
from tests.support.tls_broker import TlsBroker
from tests.support.waiting import wait_terminal

pytestmark = pytest.mark.e2e


@pytest.fixture
def tls_stack(tls_settings: Settings, certificates: Certificates, tmp_path: Path) -> Iterator[Stack]:
    https = tls_settings.model_copy(
        update={
            "http_tls_certfile": str(certificates.server.cert),
            "http_tls_keyfile": str(certificates.server.key),
        }
    )
    stack = Stack(https, tmp_path, verify=certificates.client_context())
    yield stack
    stack.stop()


async def test_jobs_run_with_every_connection_over_tls(
    tls_stack: Stack,
    tls_settings: Settings,
    tls_amqp: TlsBroker,
    tls_db: Database,
    certificates: Certificates,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert tls_settings.amqp_url.startswith("amqps://") and "tls=true" in tls_settings.mongo_url
    tls_stack.add("admission")
    tls_stack.add("dispatcher")
    tls_stack.add("runner", "--slots", "2")
    await asyncio.to_thread(tls_stack.wait_ready)
    assert tls_stack.url.startswith("https://")

    # How a user's client trusts a private CA (docs/tls.md): httpx reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates.ca))
    async with AsyncClient(tls_stack.url, timeout=10) as client:
        over_https = await client.submit("demo.echo", {"text": "over https"}, tier="TINY")
        async with AmqpSubmitter(tls_settings.amqp_url, prefix=tls_settings.prefix) as submitter:
            over_amqps = await submitter.submit("demo.echo", {"text": "over amqps"}, tier="TINY")
        assert await client.wait(over_https.id, timeout=60) == {"text": "over https"}
        assert await client.wait(over_amqps, timeout=60) == {"text": "over amqps"}

    docs = await wait_terminal(tls_db, {over_https.id, over_amqps}, within=10)
    assert {d["state"] for d in docs.values()} == {"COMPLETED"}
    tls_stack.stop()
    logs = {s.name: s.log_path.read_text(errors="replace") for s in tls_stack.services}
    assert "admission listening on https://" in logs["admission-1"]
    for name, text in logs.items():
        assert tls_amqp.password not in text, f"{name} logged the broker's password"
