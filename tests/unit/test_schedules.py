"""When schedules fire next: intervals, cron expressions (UTC), and the catch-up policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from laneyard.shared.schedule_times import Cron, Every, parse_cron
from laneyard.shared.store.schedules import cadence_of, fire_key


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


def test_every_fires_on_a_grid_anchored_at_the_previous_fire() -> None:
    every = Every(10.0)
    assert every.first(100.0) == 110.0
    # Fired a little late: the next fire stays on the grid, it does not drift by the lateness.
    assert every.after(110.0, 110.4) == 120.0
    assert every.after(110.0, 119.999) == 120.0
    # Exactly on a tick: that tick is the one just fired, the next is strictly after now.
    assert every.after(110.0, 120.0) == 130.0
    # A clock a little behind the fire time still moves on by one interval.
    assert every.after(110.0, 109.0) == 120.0


def test_every_catches_up_once_after_downtime() -> None:
    every = Every(1.0)
    # Due at 100, nothing fired until 163.5: one fire (for 100), then the next tick after now.
    assert every.after(100.0, 163.5) == 164.0
    # Never a fire time in the past, however long the outage.
    for now in (100.0, 100.5, 1234.56, 1e6 + 0.25):
        nxt = every.after(100.0, now)
        assert now < nxt <= now + 1.0


def test_cron_next_fire_is_the_next_match_after_now_in_utc() -> None:
    cron = parse_cron("*/15 * * * *")
    assert cron.first(ts(2024, 1, 31, 12, 7)) == ts(2024, 1, 31, 12, 15)
    assert cron.after(ts(2024, 1, 31, 12, 15), ts(2024, 1, 31, 12, 15, 0)) == ts(2024, 1, 31, 12, 30)
    daily = parse_cron("30 2 * * *")
    assert daily.first(ts(2024, 3, 31, 1, 0)) == ts(2024, 3, 31, 2, 30)  # a DST night elsewhere: UTC has none


def test_cron_catches_up_once_after_downtime() -> None:
    hourly = parse_cron("0 * * * *")
    # Due at 10:00, fired at 13:20: the next fire is 14:00, not 11:00, 12:00 and 13:00 in a row.
    assert hourly.after(ts(2024, 5, 1, 10), ts(2024, 5, 1, 13, 20)) == ts(2024, 5, 1, 14)


def test_cron_day_of_month_and_day_of_week_are_ored() -> None:
    # Classic cron: "the 1st, or any Monday" (croniter does this; hand-written parsers often AND).
    cron = parse_cron("0 0 1 * 1")
    fires = [cron.first(ts(2024, 1, 31, 12))]
    for _ in range(2):
        fires.append(cron.after(fires[-1], fires[-1]))
    assert fires == [ts(2024, 2, 1), ts(2024, 2, 5), ts(2024, 2, 12)]


def test_cron_month_lengths_and_last_day() -> None:
    assert parse_cron("0 0 31 * *").first(ts(2024, 4, 1)) == ts(2024, 5, 31)
    assert parse_cron("0 0 29 2 *").first(ts(2025, 1, 1)) == ts(2028, 2, 29)
    assert parse_cron("0 0 L * *").first(ts(2024, 2, 10)) == ts(2024, 2, 29)


@pytest.mark.parametrize(
    ("expression", "says"),
    [
        ("* * * *", "has 4"),
        ("* * * * * *", "has 6"),
        ("@daily", "has 1"),
        ("61 * * * *", "not a usable"),
        ("0 0 30 2 *", "not a usable"),  # parses, but February never has a 30th
        ("H * * * *", "not a usable"),
        ("every day", "has 2"),
    ],
)
def test_bad_cron_expressions_say_why(expression: str, says: str) -> None:
    with pytest.raises(ValueError, match=says):
        parse_cron(expression)


def test_cron_is_normalised_and_cadence_rebuilt_from_a_document() -> None:
    assert parse_cron("  0   12 * * mon-fri ").expression == "0 12 * * mon-fri"
    assert cadence_of({"kind": "every", "every": 5}) == Every(5.0)
    assert cadence_of({"kind": "cron", "cron": "0 * * * *"}) == Cron("0 * * * *")


def test_fire_key_is_stable_and_distinct_per_fire() -> None:
    fire = 1718000000.123456
    assert fire_key("s1", fire) == fire_key("s1", float(repr(fire)))
    assert fire_key("s1", fire) != fire_key("s1", fire + 1.0)
    assert fire_key("s1", fire) != fire_key("s2", fire)
    assert len(fire_key("a" * 32, 1e10 + 0.123456789)) <= 200  # the idempotency key limit
