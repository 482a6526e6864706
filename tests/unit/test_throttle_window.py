"""The fixed-window arithmetic behind admission rate limits."""

from __future__ import annotations

import math

import pytest

from laneyard.shared.store.throttle import opening_allowance
from laneyard.shared.throttling.window import (
    batch_size,
    parse_rates,
    window_end,
    window_index,
    window_limit,
)


def test_rates_parse_from_settings_text() -> None:
    assert parse_rates("") == {}
    assert parse_rates(" main=200, bulk=50.5 ;slow=0,") == {"main": 200.0, "bulk": 50.5, "slow": 0.0}
    for bad in ("main", "main=", "=5", "main=-1", "main=fast", "main=inf", "main=nan"):
        with pytest.raises(ValueError, match="bad rate"):
            parse_rates(bad)


def test_windows_are_numbered_from_the_epoch() -> None:
    assert window_index(10.0, 0.2) == 50
    assert window_index(10.19, 0.2) == 50
    assert window_end(50, 0.2) == pytest.approx(10.2)
    assert window_index(window_end(50, 0.2) + 1e-9, 0.2) == 51


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0, 3.3, 7.0, 60.0, 100.0, 200.0, 1234.5])
@pytest.mark.parametrize("width", [0.1, 0.2, 0.25, 1.0])
def test_window_limits_add_up_to_the_rate_over_any_span(rate: float, width: float) -> None:
    start = window_index(1_795_000_000.0, width)
    for windows in (1, 7, 50, 1000):
        total = sum(window_limit(rate, width, i) for i in range(start, start + windows))
        # Exact up to the one token that straddles either end of the span.
        assert abs(total - rate * width * windows) <= 1
    assert all(window_limit(rate, width, i) >= 0 for i in range(start, start + 100))
    assert max(window_limit(rate, width, i) for i in range(start, start + 100)) <= math.ceil(rate * width)


def test_a_whole_rate_per_window_is_the_same_every_window() -> None:
    assert {window_limit(100.0, 0.2, i) for i in range(1000, 2000)} == {20}
    # 1 job/s in 0.2 s windows: one window in five has the token.
    assert [window_limit(1.0, 0.2, i) for i in range(10)] == [0, 0, 0, 0, 1, 0, 0, 0, 0, 1]


def test_movers_take_a_quarter_window_at_a_time() -> None:
    assert batch_size(100.0, 0.2, 32) == 5
    assert batch_size(1.0, 0.2, 32) == 1
    assert batch_size(10_000.0, 0.2, 32) == 32


def test_a_window_opens_with_what_the_one_before_left_unused() -> None:
    assert opening_allowance(10, 10, 4, previous=6, index=7) == 14
    assert opening_allowance(10, 10, 0, previous=6, index=7) == 10
    assert opening_allowance(10, 10, -2, previous=6, index=7) == 10  # given back below zero
    assert opening_allowance(10, 10, 25, previous=6, index=7) == 20  # never more than one window
    assert opening_allowance(10, 10, 4, previous=5, index=7) == 10  # only the window just before
