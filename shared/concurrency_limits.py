"""How many jobs of a concurrency key may run at once. Pure, no I/O.

A limit is set for a key (``api:stripe``) or, ending in ``*``, for every key starting with what
comes before it (``db:*``); each matching key gets that limit for itself, not shared with the other
keys of the prefix. An exact name wins over a prefix, a longer prefix over a shorter one. Limits come
from ``LANEYARD_CONCURRENCY_LIMITS`` ("db:*=3,api:stripe=10"), overridden by those set through
``PUT /v1/concurrency/{key}``. A key no limit matches is not bounded and takes no slot at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A job's concurrency key (shared.models), or a prefix of one ending in * (``*`` alone: every key).
NAME_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}\*?|\*)$"
_NAME = re.compile(NAME_PATTERN)
MAX_RUNNING = 100_000


def valid_name(name: str) -> bool:
    return _NAME.match(name) is not None


def parse_limits(text: str) -> dict[str, int]:
    """``"db:*=3,api:stripe=10"`` -> ``{"db:*": 3, "api:stripe": 10}``; ValueError naming the first
    entry that is not ``name=count`` with a valid name and a count of 0 to ``MAX_RUNNING``."""
    limits: dict[str, int] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, sep, count = (piece.strip() for piece in entry.rpartition("="))
        if not sep or not valid_name(name):
            raise ValueError(f"bad concurrency limit {entry!r}: expected key=count, e.g. db:*=3")
        if not count.isdigit() or int(count) > MAX_RUNNING:
            raise ValueError(f"bad concurrency limit {entry!r}: the count must be 0 to {MAX_RUNNING}")
        limits[name] = int(count)
    return limits


def limit_for(key: str, limits: Mapping[str, int]) -> int | None:
    """The most jobs of ``key`` that may run at once, or None (unbounded)."""
    if key in limits:
        return limits[key]
    best: tuple[int, int] | None = None
    for name, limit in limits.items():
        if name.endswith("*") and key.startswith(name[:-1]) and (best is None or len(name) > best[0]):
            best = (len(name), limit)
    return best[1] if best is not None else None


def in_force(settings_text: str, overrides: Mapping[str, int]) -> dict[str, int]:
    """The limits that apply: the settings', with those set through the API over them. A setting
    that does not parse counts as none (admission and the dispatcher still start; the GET says so)."""
    try:
        base = parse_limits(settings_text)
    except ValueError:
        base = {}
    return {**base, **overrides}


def free_slots(limit: int, running: int) -> int:
    """How many parked jobs of a key may go back to their lane now: one per free slot (a lowered
    limit leaves ``running`` above it, which frees nothing)."""
    return max(0, limit - running)
