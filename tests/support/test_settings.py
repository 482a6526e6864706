"""The settings and database every test starts from: its own queue prefix and database, fast timings."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from laneyard.shared.embedded.mongo import free_port
from laneyard.shared.settings import Settings
from laneyard.shared.store import clusters
from laneyard.shared.store.database import Database, connect, ensure_indexes
from tests.support.tags import new_tag


def for_a_test(amqp_url: str, mongo_url: str, **overrides: Any) -> Settings:
    """Settings whose exchange/queue prefix and database are this test's alone."""
    tag = new_tag()
    values: dict[str, Any] = {
        "amqp_url": amqp_url, "mongo_url": mongo_url, "mongo_db": tag, "prefix": tag,
        "http_host": "127.0.0.1", "http_port": free_port(), "delay_min_ms": 100, "delay_max_ms": 1600,
        "heartbeat_seconds": 0.5, "runner_cpu_millicores": 4000, "runner_memory_mib": 8192,
        "runner_slots": 8,
        "runner_demo_tasks": True,  # many tests run the demo.* tasks
        "shutdown_grace_seconds": 5, "log_json": True,
    }  # fmt: skip
    return Settings(**{**values, **overrides})


@contextlib.asynccontextmanager
async def database_of(settings: Settings) -> AsyncIterator[Database]:
    """The test's database, with the indexes and default cluster the services expect; dropped after."""
    client, database = connect(settings)
    await ensure_indexes(database)
    await clusters.ensure_default(database)
    try:
        yield database
    finally:
        await client.drop_database(settings.mongo_db)
        await client.close()
