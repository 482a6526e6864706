"""Which rate a job's concurrency or fairness key is held to. Pure, no I/O.

A rate is set for a key (``api:stripe``) or, ending in ``*``, for every key starting with what comes
before it (``api:*``); each matching key gets that rate on its own counter. An exact name wins over
a prefix, a longer prefix over a shorter one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# A job's key (shared.models), or a prefix of one ending in * (``*`` alone: every key).
NAME_PATTERN = r"^(?:[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}\*?|\*)$"
_NAME = re.compile(NAME_PATTERN)


def valid_name(name: str) -> bool:
    return _NAME.match(name) is not None


def rate_for(key: str, rates: Mapping[str, float]) -> float | None:
    """The rate ``key`` is held to, or None."""
    if key in rates:
        return rates[key]
    best: tuple[int, float] | None = None
    for name, rate in rates.items():
        if name.endswith("*") and key.startswith(name[:-1]) and (best is None or len(name) > best[0]):
            best = (len(name), rate)
    return best[1] if best is not None else None


def rated_key(keys: tuple[str | None, ...], rates: Mapping[str, float]) -> str | None:
    """The first of a job's keys (concurrency key, then fairness key) that has a rate; only that one
    holds the job back, so a job waits in one queue rather than in two."""
    for key in keys:
        if key is not None and rate_for(key, rates) is not None:
            return key
    return None


def check_names(rates: Mapping[str, float]) -> Mapping[str, float]:
    """Raises ValueError naming the first rate name a job's key could never match."""
    for name in rates:
        if not valid_name(name):
            raise ValueError(f"bad key rate name {name!r}: expected {NAME_PATTERN}, e.g. api:stripe=5")
    return rates


def job_keys(job: object) -> tuple[str | None, ...]:
    """A job's keys a rate may match, the concurrency key first (for whichever the job has)."""
    return tuple(getattr(job, name, None) for name in ("concurrency_key", "fairness_key"))
