"""Rates by job key: which rate a key is held to, and the names of key intake queues."""

from __future__ import annotations

import pytest

from laneyard.shared.amqp.topology import Names
from laneyard.shared.throttling import intake, key_rates
from laneyard.shared.throttling.window import parse_rates

RATES = {"api:stripe": 5.0, "api:*": 20.0, "api:st*": 10.0, "*": 100.0}


def test_an_exact_key_wins_then_the_longest_prefix() -> None:
    assert key_rates.rate_for("api:stripe", RATES) == 5.0
    assert key_rates.rate_for("api:stream", RATES) == 10.0
    assert key_rates.rate_for("api:other", RATES) == 20.0
    assert key_rates.rate_for("tenant:1", RATES) == 100.0
    assert key_rates.rate_for("tenant:1", {"api:*": 1.0}) is None


def test_the_concurrency_key_goes_first_and_only_a_rated_key_counts() -> None:
    rates = {"tenant:a": 3.0}
    assert key_rates.rated_key(("api:x", "tenant:a"), rates) == "tenant:a"
    assert key_rates.rated_key(("tenant:a", "tenant:a"), rates) == "tenant:a"
    assert key_rates.rated_key((None, None), rates) is None
    assert key_rates.rated_key(("api:x", None), {"api:*": 1.0, "tenant:a": 3.0}) == "api:x"


def test_rate_names_from_the_settings_are_checked() -> None:
    assert key_rates.check_names(parse_rates("api:stripe=5,tenant:*=20,*=100")) == {
        "api:stripe": 5.0, "tenant:*": 20.0, "*": 100.0,
    }  # fmt: skip
    for bad in ("a b=1", "a*b=1", "-x=1", "**=1"):
        with pytest.raises(ValueError):
            key_rates.check_names(parse_rates(bad))


def test_key_intake_names_stay_apart_and_short_enough() -> None:
    names = Names("laneyard")
    assert intake.queue_name(names, "main", "default") == "laneyard.intake.main.default"
    assert intake.queue_name(names, "main", "default", "api:x") == "laneyard.intake.main.default.api:x"
    assert intake.routing_key(names, "main", "default", "api:x") == "main.default.api:x"
    long_key = "k" * 128
    name = intake.queue_name(names, "l" * 63, "c" * 63, long_key)
    assert len(name) <= 255 and long_key not in name
    assert name == intake.queue_name(names, "l" * 63, "c" * 63, long_key)  # the same every time


def test_a_key_queue_goes_only_when_empty_and_untouched_long_enough() -> None:
    idle = intake.KEY_IDLE_SECONDS
    assert intake.KEY_TOUCH_SECONDS < idle  # a replica sending to a key touches it before it can go
    assert intake.key_queue_idle(idle, idle)
    assert not intake.key_queue_idle(idle - 1, idle)
    assert not intake.key_queue_idle(idle, intake.KEY_TOUCH_SECONDS)
