"""Fixtures for the TLS tests: certificates, a TLS-only RabbitMQ node, MongoDB behind a TLS proxy,
and settings, a database and a bus that reach both only over TLS.

Session-scoped and started only when a test asks: the node takes seconds to boot, and the
integration and end-to-end TLS tests share it. Each test still gets its own prefix and database
(from the ``settings`` fixture).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support import test_settings
from tests.support.tls import Certificates, make_certificates
from tests.support.tls_broker import TlsBroker, tls_broker
from tests.support.tls_proxy import tls_proxy


def mongo_upstream(url: str) -> tuple[str, int]:
    """The one server of a plain ``mongodb://`` URL; skips the test for any other kind."""
    parts = urlsplit(url)
    query = {k.lower() for k, _ in parse_qsl(parts.query)}
    if parts.scheme != "mongodb" or "," in parts.netloc or query & {"tls", "ssl"}:
        pytest.skip(
            f"the TLS proxy fronts one plain mongodb:// server, not {parts.scheme}://{parts.hostname}"
        )
    return parts.hostname or "127.0.0.1", parts.port or 27017


def mongo_tls_url(url: str, port: int, ca: Path) -> str:
    """``url`` with its server replaced by 127.0.0.1:``port`` and TLS required, verified against ``ca``."""
    parts = urlsplit(url)
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo}@127.0.0.1:{port}" if userinfo else f"127.0.0.1:{port}"
    query = [*parse_qsl(parts.query), ("tls", "true"), ("tlsCAFile", str(ca)), ("directConnection", "true")]
    return urlunsplit((parts.scheme, netloc, parts.path or "/", urlencode(query), ""))


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("certificates"))


@pytest.fixture(scope="session")
def tls_amqp(tmp_path_factory: pytest.TempPathFactory, certificates: Certificates) -> Iterator[TlsBroker]:
    with tls_broker(tmp_path_factory.mktemp("tls-rabbitmq"), certificates) as broker:
        print(f"the TLS RabbitMQ node answered {broker.started_in:.1f} s after it was started")
        yield broker


@pytest.fixture(scope="session")
def tls_mongo_url(mongo_url: str, certificates: Certificates) -> Iterator[str]:
    """The tests' MongoDB reached only through a TLS-terminating proxy."""
    with tls_proxy(mongo_upstream(mongo_url), certificates.server) as proxy:
        yield mongo_tls_url(mongo_url, proxy.port, certificates.ca)


@pytest.fixture
def tls_settings(settings: Settings, tls_amqp: TlsBroker, tls_mongo_url: str) -> Settings:
    """This test's settings, with the broker and the database reached over TLS only."""
    return settings.model_copy(update={"amqp_url": tls_amqp.url(), "mongo_url": tls_mongo_url})


@pytest.fixture
async def tls_db(tls_settings: Settings) -> AsyncIterator[Database]:
    async with test_settings.database_of(tls_settings) as database:
        yield database


@pytest.fixture
async def tls_bus(tls_settings: Settings) -> AsyncIterator[Bus]:
    # The node is the tests' own and thrown away after the session: nothing to delete from it.
    bus = Bus(tls_settings)
    await bus.connect()
    yield bus
    await bus.close()
