"""When a recurring schedule fires: a fixed interval or a 5-field cron expression, both in UTC.

Catch-up policy: a schedule that fell due while no dispatcher was firing it (every dispatcher down,
the lease changing hands, a long pause of the process) fires once for the whole missed period, at
the first tick due, and then carries on at its next tick after now. Firing once per missed tick
would flood a lane with stale runs after an outage, and a job that needs to know what it missed
has ``last_completed_at``.

Cron expressions are evaluated by croniter: day-of-month/day-of-week OR semantics, ``L``, ranges,
steps and month lengths are its business. Times are UTC, so there are no DST gaps or repeats.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from croniter import CroniterError, croniter

# 1 s is the smallest useful interval: the dispatcher looks for due schedules every 0.5 s.
MIN_EVERY_SECONDS = 1.0
MAX_EVERY_SECONDS = 366 * 24 * 3600.0
CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")


@dataclass(frozen=True)
class Every:
    seconds: float

    def first(self, now: float) -> float:
        return now + self.seconds

    def after(self, fired: float, now: float) -> float:
        """The next tick on the grid anchored at ``fired``, strictly after ``now`` (see catch-up)."""
        if now < fired:
            return fired + self.seconds
        ticks = math.floor((now - fired) / self.seconds) + 1
        return fired + ticks * self.seconds


@dataclass(frozen=True)
class Cron:
    expression: str

    def first(self, now: float) -> float:
        return _next_cron(self.expression, now)

    def after(self, fired: float, now: float) -> float:
        """The first match after both ``fired`` and ``now`` (see catch-up)."""
        return _next_cron(self.expression, max(fired, now))


Cadence = Every | Cron


def parse_cron(expression: str) -> Cron:
    """A ``Cron`` for a valid expression that matches at least once; ValueError saying why if not."""
    fields = expression.split()
    if len(fields) != len(CRON_FIELDS):
        raise ValueError(
            f"a cron expression has {len(CRON_FIELDS)} fields ({' '.join(CRON_FIELDS)}); "
            f"{expression[:100]!r} has {len(fields)}"
        )
    cron = Cron(" ".join(fields))
    try:
        # Parsing alone accepts expressions that can never match (30 February): find one match.
        cron.first(0.0)
    except CroniterError as exc:
        raise ValueError(f"{expression[:100]!r} is not a usable cron expression: {exc}") from exc
    return cron


def _next_cron(expression: str, after: float) -> float:
    start = datetime.fromtimestamp(after, UTC)
    nxt: datetime = croniter(expression, start).get_next(datetime)
    return nxt.timestamp()
