"""Which sub-queue of its lane a job with a fairness key goes to.

A lane whose jobs carry fairness keys has a fixed number of shard queues besides its default
queue; a key always hashes to the same shard, so a key's jobs stay first in, first out within a
priority, and the dispatcher takes turns between shards (``services/dispatcher/fair_pick.py``).
The hash is stable across processes and versions (not Python's salted ``hash``): admission,
runners re-queueing a job and dispatchers must agree on it. Every service needs the same
``LANEYARD_FAIRNESS_SHARDS``.
"""

from __future__ import annotations

import hashlib

from aio_pika.abc import AbstractIncomingMessage

# On a job waiting in an intake queue (rate limits): the lane routing key its mover sends it on with.
LANE_ROUTE_HEADER = "x-lane-route"
DEFAULT = "default"  # the stride-clock name of a lane's default queue (jobs without a key)


def shard_of(key: str, shards: int) -> int:
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def shard_name(shard: int) -> str:
    """The suffix of a shard's queue name and routing key; lane names and cluster slugs have no
    dots, so ``<lane>.<cluster>.f<n>`` cannot be mistaken for another lane's key."""
    return f"f{shard}"


def queue_id(key: str | None, shards: int) -> str:
    """Which of the lane's queues a job of ``key`` is in, as the dispatcher's stride clock names it."""
    return DEFAULT if key is None else shard_name(shard_of(key, shards))


def lane_route(message: AbstractIncomingMessage, default: str) -> str:
    """Where a mover sends a job from an intake queue: the route admission chose, else ``default``."""
    route = (message.headers or {}).get(LANE_ROUTE_HEADER)
    return route if isinstance(route, str) and route else default
