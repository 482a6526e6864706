"""Helpers for the fairness-key tests: keys that land in distinct shards, and cleaning up."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from laneyard.shared.amqp.topology import Names
from laneyard.shared.fair_shards import shard_of
from laneyard.shared.settings import Settings
from tests.support.broker import delete_queues


def distinct_keys(count: int, shards: int, stem: str = "tenant") -> list[str]:
    """``count`` keys that hash to different shards: their turns are their own (no collision)."""
    keys: list[str] = []
    used: set[int] = set()
    i = 0
    while len(keys) < count:
        key = f"{stem}:{i}"
        if shard_of(key, shards) not in used:
            used.add(shard_of(key, shards))
            keys.append(key)
        i += 1
    return keys


async def delete_shards(settings: Settings, lane: str = "main", cluster: str = "default") -> None:
    names = Names(settings.prefix)
    await delete_queues(
        settings, *(names.lane_shard_queue(lane, cluster, s) for s in range(settings.fairness_shards))
    )


async def until(predicate: Callable[[], bool], within: float) -> None:
    """Polls ``predicate`` until it holds; fails the test after ``within`` seconds."""
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not so after {within}s")
        await asyncio.sleep(0.01)
