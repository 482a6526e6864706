"""Fixtures: real RabbitMQ and MongoDB-wire servers, and a private corner of each for every test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.embedded.mongo import free_port
from laneyard.shared.settings import Settings
from laneyard.shared.store import clusters
from laneyard.shared.store.database import Database, connect, ensure_indexes
from tests.support import services, tags
from tests.support.broker import delete_topology, sweep_tags
from tests.support.tags import new_tag

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
    tag = new_tag()
    return Settings(
        amqp_url=amqp_url,
        mongo_url=mongo_url,
        mongo_db=tag,
        prefix=tag,
        http_host="127.0.0.1",
        http_port=free_port(),
        delay_min_ms=100,
        delay_max_ms=1600,
        heartbeat_seconds=0.5,
        runner_cpu_millicores=4000,
        runner_memory_mib=8192,
        runner_slots=8,
        runner_demo_tasks=True,  # many tests run the demo.* tasks
        shutdown_grace_seconds=5,
        log_json=True,
    )


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    client, database = connect(settings)
    await ensure_indexes(database)
    await clusters.ensure_default(database)
    yield database
    await client.drop_database(settings.mongo_db)
    await client.close()


@pytest.fixture
async def bus(settings: Settings) -> AsyncIterator[Bus]:
    b = Bus(settings)
    await b.connect()
    yield b
    await b.close()
    await delete_topology(settings)
