"""When a recurring schedule fires: a fixed interval, or a 5-field cron expression in a time zone.

Catch-up policy: a schedule that fell due while no dispatcher was firing it (every dispatcher down,
the lease changing hands, a long pause of the process) fires, with ``catch_up="one"`` (the
default), once for the whole missed period and then carries on at its next tick after now: firing
once per missed tick would flood a lane with stale runs after an outage, and a job that needs to
know what it missed has ``last_completed_at``. With ``catch_up="all"`` it makes up each missed
fire time, the most recent ``catch_up_limit`` of them, oldest first (``plan_fire``).

Cron expressions are evaluated by croniter on the wall clock of the schedule's zone: day-of-month/
day-of-week OR semantics, ``L``, ranges, steps and month lengths are its business. DST is ours
(``Cron``): a wall time that a spring-forward skips fires as if the clocks had not changed yet
(02:30 becomes 03:30), and one that a fall-back repeats fires once, at its first occurrence,
unless the hour field is ``*``, when the expression follows real time through both passes.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

# 1 s is the smallest useful interval: the dispatcher looks for due schedules every 0.5 s.
MIN_EVERY_SECONDS = 1.0
MAX_EVERY_SECONDS = 366 * 24 * 3600.0
CRON_FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
MAX_JITTER_SECONDS = 3600.0
MAX_CATCH_UP_LIMIT = 1000
# Longer than any DST change moves a clock (two hours, in Antarctica/Troll): how far around a
# time the cron search looks for wall times a change shifted across it.
DST_MARGIN = timedelta(hours=3)
# A float fire time recomputed from another is this close to it; closer counts as the same time.
SAME_TIME = 1e-6
CatchUp = Literal["one", "all"]


@dataclass(frozen=True)
class Every:
    seconds: float
    # Any one fire time: the grid every fire of the schedule lies on.
    anchor: float = 0.0

    def first(self, now: float) -> float:
        return now + self.seconds

    def next(self, at: float) -> float:
        """The fire time on the grid strictly after ``at``."""
        nxt = self.anchor + (math.floor((at - self.anchor) / self.seconds) + 1) * self.seconds
        return nxt + self.seconds if nxt <= at + SAME_TIME else nxt

    def previous(self, at: float) -> float:
        """The fire time on the grid strictly before ``at``."""
        prev = self.anchor + (math.ceil((at - self.anchor) / self.seconds) - 1) * self.seconds
        return prev - self.seconds if prev >= at - SAME_TIME else prev

    def after(self, fired: float, now: float) -> float:
        """The next tick on the grid anchored at ``fired``, strictly after ``now`` (see catch-up)."""
        if now < fired:
            return fired + self.seconds
        ticks = math.floor((now - fired) / self.seconds) + 1
        return fired + ticks * self.seconds


@dataclass(frozen=True)
class Cron:
    expression: str
    zone: str = "UTC"

    def first(self, now: float) -> float:
        return self.next(now)

    def after(self, fired: float, now: float) -> float:
        """The first match after both ``fired`` and ``now`` (see catch-up)."""
        return self.next(max(fired, now))

    def next(self, at: float) -> float:
        """The first fire time strictly after ``at``."""
        return _cron_step(self.expression, self.zone, at, forward=True)

    def previous(self, at: float) -> float:
        """The last fire time strictly before ``at``."""
        return _cron_step(self.expression, self.zone, at, forward=False)


@dataclass(frozen=True)
class Jittered:
    """A cadence whose every fire time is moved ``offset`` seconds later (see ``jitter_offset``)."""

    inner: Every | Cron
    offset: float

    def first(self, now: float) -> float:
        return self.inner.first(now - self.offset) + self.offset

    def after(self, fired: float, now: float) -> float:
        return self.inner.after(fired - self.offset, now - self.offset) + self.offset

    def next(self, at: float) -> float:
        return self.inner.next(at - self.offset) + self.offset

    def previous(self, at: float) -> float:
        return self.inner.previous(at - self.offset) + self.offset


Cadence = Every | Cron | Jittered


def parse_zone(name: str) -> str:
    """An IANA time zone name (``Europe/Paris``) as given, or ValueError saying it is unknown."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{name[:100]!r} is not a known IANA time zone, such as Europe/Paris") from exc
    return name


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


def first_fire(cadence: Every | Cron, now: float, start_at: float | None) -> float:
    """A new schedule's first fire time: the first after now, and none before ``start_at``; an
    ``every`` schedule given a ``start_at`` fires on a grid starting at it."""
    if start_at is None:
        return cadence.first(now)
    if isinstance(cadence, Every):
        return start_at if start_at > now else Every(cadence.seconds, start_at).next(now)
    return cadence.next(max(now, start_at - SAME_TIME * 2))


@dataclass(frozen=True)
class FirePlan:
    """What to do with a due fire: submit it (or skip it, too old to make up), and the next one."""

    fire: bool
    next_at: float


def plan_fire(cadence: Cadence, fire_at: float, now: float, catch_up: CatchUp, limit: int) -> FirePlan:
    """The fire due at ``fire_at``, handled at ``now`` (see catch-up at the top)."""
    if catch_up == "one":
        return FirePlan(True, cadence.after(fire_at, now))
    kept = recent_fires(cadence, fire_at, now, limit)
    if not kept or kept[0] <= fire_at + SAME_TIME:
        return FirePlan(True, cadence.next(fire_at))
    return FirePlan(False, kept[0])


def recent_fires(cadence: Cadence, lo: float, hi: float, limit: int) -> list[float]:
    """The latest ``limit`` fire times in [lo, hi], oldest first."""
    found: list[float] = []
    at = cadence.previous(hi + SAME_TIME * 2)
    while len(found) < limit and at >= lo - SAME_TIME:
        found.append(at)
        at = cadence.previous(at)
    return found[::-1]


class TooManyFires(ValueError):
    pass


def fires_between(cadence: Cadence, lo: float, hi: float, limit: int) -> list[float]:
    """Every fire time in [lo, hi], oldest first; TooManyFires if there are more than ``limit``."""
    found: list[float] = []
    at = cadence.next(lo - SAME_TIME * 2)
    while at <= hi + SAME_TIME:
        if len(found) == limit:
            raise TooManyFires(f"more than {limit} fire times between the two")
        found.append(at)
        at = cadence.next(at)
    return found


def jitter_offset(schedule_id: str, jitter: float) -> float:
    """How long after each of its fire times a schedule fires, in [0, jitter): the same for every
    fire of one schedule (so its period is kept) and spread evenly across schedules, from a hash of
    its id, so that many schedules on one expression do not all fire at once."""
    if jitter <= 0:
        return 0.0
    digest = hashlib.sha256(schedule_id.encode()).digest()
    share = int.from_bytes(digest[:8], "big") / 2**64
    return math.floor(share * jitter * 1000) / 1000  # whole milliseconds, as fire times are stored


def _wall(at: float, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(at, zone).replace(tzinfo=None)


def _instants(wall: datetime, zone: ZoneInfo, every_hour: bool) -> list[float]:
    """When a matched wall time happens. fold=0 reads a wall time a spring-forward skipped with the
    offset from before the change (so as much later as the clocks jumped) and a repeated one as its
    first occurrence; an expression whose hour is ``*`` also matches the repeat."""
    first = wall.replace(tzinfo=zone, fold=0).timestamp()
    if not every_hour:
        return [first]
    second = wall.replace(tzinfo=zone, fold=1).timestamp()
    repeated = second > first and _wall(second, zone) == wall
    return [first, second] if repeated else [first]


def _cron_step(expression: str, zone_name: str, at: float, *, forward: bool) -> float:
    if zone_name == "UTC":
        it = croniter(expression, datetime.fromtimestamp(at, UTC))
        stepped: datetime = it.get_next(datetime) if forward else it.get_prev(datetime)
        return stepped.timestamp()
    zone = ZoneInfo(zone_name)
    # Far from a DST change wall times and instants are in step: the first match is the answer.
    # Near one, matches up to DST_MARGIN away on the wall may land on the other side of ``at``.
    offsets = {datetime.fromtimestamp(at + d, zone).utcoffset() for d in (-10800.0, 0.0, 10800.0)}
    margin = DST_MARGIN if len(offsets) > 1 else timedelta(0)
    every_hour = expression.split()[1] == "*"
    start = _wall(at, zone) + (-margin if forward else margin)
    it = croniter(expression, start)
    best: float | None = None
    for _ in range(100_000):  # bounded: a margin's worth of minutes, or two matches far from a change
        wall: datetime = it.get_next(datetime) if forward else it.get_prev(datetime)
        for instant in _instants(wall, zone, every_hour):
            if forward and instant > at and (best is None or instant < best):
                best = instant
            if not forward and instant < at and (best is None or instant > best):
                best = instant
        if best is not None:
            best_wall = _wall(best, zone)
            if (forward and wall >= best_wall + margin) or (not forward and wall <= best_wall - margin):
                return best
    raise ValueError(f"no fire time of {expression!r} near {at}")
