"""Overlap decisions, catch-up plans, fire times in a range, jitter, and cron in a time zone across
DST changes: the pure functions behind schedules."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from laneyard.shared.schedule_overlap import Action, Overlap, on_fire
from laneyard.shared.schedule_times import (
    Cron,
    Every,
    Jittered,
    TooManyFires,
    fires_between,
    first_fire,
    jitter_offset,
    parse_zone,
    plan_fire,
    recent_fires,
)

NEW_YORK = ZoneInfo("America/New_York")


def local(*parts: int, fold: int = 0) -> float:
    return datetime(*parts, tzinfo=NEW_YORK, fold=fold).timestamp()  # type: ignore[misc]


def walk(cron: Cron, start: float, count: int) -> list[str]:
    fires, at = [], start
    for _ in range(count):
        at = cron.next(at)
        fires.append(datetime.fromtimestamp(at, NEW_YORK).isoformat())
    return fires


@pytest.mark.parametrize(
    ("policy", "unfinished", "buffered", "action"),
    [
        (Overlap.ALLOW, True, False, Action.START),
        (Overlap.SKIP, False, False, Action.START),
        (Overlap.SKIP, True, False, Action.SKIP),
        (Overlap.BUFFER_ONE, True, False, Action.BUFFER),
        (Overlap.BUFFER_ONE, True, True, Action.SKIP),
        (Overlap.BUFFER_ONE, False, True, Action.SKIP),  # the kept fire goes first
        (Overlap.BUFFER_ONE, False, False, Action.START),
        (Overlap.CANCEL_OTHER, True, False, Action.CANCEL_AND_START),
        (Overlap.CANCEL_OTHER, False, False, Action.START),
    ],
)
def test_what_a_fire_does_under_each_overlap_policy(
    policy: Overlap, unfinished: bool, buffered: bool, action: Action
) -> None:
    assert on_fire(policy, unfinished, buffered) is action


def test_catch_up_one_fires_once_and_all_makes_up_the_latest_up_to_the_limit() -> None:
    every = Every(10.0, anchor=0.0)
    assert plan_fire(every, 100.0, 163.0, "one", 5) == plan_fire(every, 100.0, 163.0, "one", 1)
    assert plan_fire(every, 100.0, 163.0, "one", 5).next_at == 170.0
    # all: 100..160 missed (7 fire times); the limit 5 keeps 120..160, so 100 is skipped to 120.
    skip = plan_fire(every, 100.0, 163.0, "all", 5)
    assert (skip.fire, skip.next_at) == (False, 120.0)
    fire = plan_fire(every, 120.0, 163.0, "all", 5)
    assert (fire.fire, fire.next_at) == (True, 130.0)
    assert plan_fire(every, 160.0, 163.0, "all", 5).next_at == 170.0
    assert recent_fires(every, 100.0, 163.0, 3) == [140.0, 150.0, 160.0]


def test_fires_in_a_range_are_inclusive_and_bounded() -> None:
    hourly = Cron("0 * * * *")
    lo = datetime.fromisoformat("2024-05-01T10:00:00+00:00").timestamp()
    got = fires_between(hourly, lo, lo + 3 * 3600, 10)
    assert got == [lo, lo + 3600, lo + 7200, lo + 10800]
    assert fires_between(Every(60.0, anchor=30.0), 0.0, 200.0, 10) == [30.0, 90.0, 150.0]
    with pytest.raises(TooManyFires):
        fires_between(hourly, lo, lo + 24 * 3600, 10)


def test_first_fire_respects_start_at() -> None:
    assert first_fire(Every(60.0), 1000.0, None) == 1060.0
    assert first_fire(Every(60.0), 1000.0, 5000.0) == 5000.0
    assert first_fire(Every(60.0), 1000.0, 970.0) == 1030.0  # on the grid from start_at
    daily = Cron("0 3 * * *")
    start = datetime.fromisoformat("2030-01-05T03:00:00+00:00").timestamp()
    assert first_fire(daily, 0.0, start) == start


def test_jitter_is_stable_per_schedule_bounded_and_spread() -> None:
    offsets = [jitter_offset(f"schedule-{i}", 60.0) for i in range(1000)]
    assert offsets[0] == jitter_offset("schedule-0", 60.0)
    assert all(0.0 <= o < 60.0 for o in offsets)
    # A thousand schedules on one hour spread over the minute: every 6 s bucket holds some.
    buckets = {int(o // 6) for o in offsets}
    assert buckets == set(range(10))
    assert jitter_offset("x", 0.0) == 0.0
    shifted = Jittered(Cron("0 * * * *"), 12.5)
    assert shifted.next(3600.0 + 12.5) == 7200.0 + 12.5
    assert shifted.previous(7200.0 + 12.5) == 3600.0 + 12.5


def test_daily_cron_across_spring_forward_and_fall_back() -> None:
    # 02:30 does not exist on 10 March 2024 in New York: it fires at 03:30 that day, once.
    spring = walk(Cron("30 2 * * *", "America/New_York"), local(2024, 3, 8, 12), 4)
    assert spring == [
        "2024-03-09T02:30:00-05:00",
        "2024-03-10T03:30:00-04:00",
        "2024-03-11T02:30:00-04:00",
        "2024-03-12T02:30:00-04:00",
    ]
    # 01:30 happens twice on 3 November 2024: a daily schedule fires at the first only.
    fall = walk(Cron("30 1 * * *", "America/New_York"), local(2024, 11, 2, 12), 3)
    assert fall == ["2024-11-03T01:30:00-04:00", "2024-11-04T01:30:00-05:00", "2024-11-05T01:30:00-05:00"]
    # Always 9:00 on the wall, whatever the offset: 23 and 25 hours apart across the changes.
    nine = Cron("0 9 * * *", "America/New_York")
    assert nine.next(local(2024, 3, 9, 9)) - local(2024, 3, 9, 9) == 23 * 3600
    assert nine.next(local(2024, 11, 2, 9)) - local(2024, 11, 2, 9) == 25 * 3600


def test_an_every_hour_cron_follows_real_time_through_both_passes_of_fall_back() -> None:
    cron = Cron("*/30 * * * *", "America/New_York")
    fires = walk(cron, local(2024, 11, 3, 0, 10), 6)
    assert fires == [
        "2024-11-03T00:30:00-04:00",
        "2024-11-03T01:00:00-04:00",
        "2024-11-03T01:30:00-04:00",
        "2024-11-03T01:00:00-05:00",
        "2024-11-03T01:30:00-05:00",
        "2024-11-03T02:00:00-05:00",
    ]
    # previous() walks the same times back.
    at = cron.next(local(2024, 11, 3, 2, 0))
    back = []
    for _ in range(6):
        at = cron.previous(at)
        back.append(datetime.fromtimestamp(at, NEW_YORK).isoformat())
    assert back[::-1] == fires


def test_a_utc_cron_and_an_unknown_zone() -> None:
    assert Cron("0 0 * * *").next(0.0) == 86400.0
    assert parse_zone("Europe/Paris") == "Europe/Paris"
    with pytest.raises(ValueError, match="not a known IANA time zone"):
        parse_zone("Mars/Olympus")
    with pytest.raises(ValueError, match="not a known IANA time zone"):
        parse_zone("../etc/passwd")
