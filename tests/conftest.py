"""Fixtures: real RabbitMQ and MongoDB-wire servers, and a private corner of each for every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support import services, tags, test_settings
from tests.support.broker import delete_topology, sweep_tags

# The TLS tests' fixtures (a TLS-only RabbitMQ node, MongoDB behind a TLS proxy): session-scoped so
# the integration and end-to-end TLS tests share one node, started only when one of them runs.
pytest_plugins = ["tests.support.tls_fixtures"]


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    with services.amqp_url() as url:
        yield url
        # What tests made up on the way (lanes, fairness shards, intake and park queues) goes too.
        asyncio.run(sweep_tags(url, tags.used()))


@pytest.fixture(scope="session")
def mongo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with services.mongo_url(Path(tmp_path_factory.mktemp("mongo"))) as url:
        yield url


@pytest.fixture
def settings(amqp_url: str, mongo_url: str) -> Settings:
    """Settings whose exchange/queue prefix and database are this test's alone."""
    return test_settings.for_a_test(amqp_url, mongo_url)


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    async with test_settings.database_of(settings) as database:
        yield database


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    b = Bus(settings)
    await b.connect()
    yield b
    await b.close()
    await delete_topology(settings)
