"""Jobs ended per minute over the last minutes, from the end times of recent jobs."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

MINUTES = 10


@dataclass(frozen=True)
class Minute:
    ago: int  # 0 is the minute under way
    completed: int
    failed: int


def per_minute(ends: Iterable[tuple[str, float]], now: float, minutes: int = MINUTES) -> list[Minute]:
    """``ends`` are (state, when) of jobs that ended; oldest minute first."""
    completed = [0] * minutes
    failed = [0] * minutes
    for state, at in ends:
        ago = int((now - at) // 60)
        if not 0 <= ago < minutes:
            continue
        if state == "COMPLETED":
            completed[ago] += 1
        elif state == "ERROR":
            failed[ago] += 1
    return [Minute(ago, completed[ago], failed[ago]) for ago in reversed(range(minutes))]
