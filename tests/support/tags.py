"""Test tags: the queue prefix and database name of one test, remembered so that what a test left on
the broker (fairness shards, intake and park queues of lanes it made up) is swept at session end."""

from __future__ import annotations

import uuid

_used: set[str] = set()


def new_tag() -> str:
    tag = f"t{uuid.uuid4().hex[:10]}"
    _used.add(tag)
    return tag


def used() -> frozenset[str]:
    return frozenset(_used)
