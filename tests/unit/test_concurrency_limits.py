"""The pure parts of concurrency keys: limits from the setting, which limit a key gets, how many
parked jobs may go back, which slots the sweep frees."""

from __future__ import annotations

import pytest

from laneyard.services.dispatcher.concurrency_sweep import stale_holders
from laneyard.shared.concurrency_limits import free_slots, in_force, limit_for, parse_limits


def test_the_setting_parses_into_names_and_counts() -> None:
    assert parse_limits("db:*=3, api:stripe=10,,") == {"db:*": 3, "api:stripe": 10}
    assert parse_limits("") == {}
    assert parse_limits("*=0") == {"*": 0}


@pytest.mark.parametrize("bad", ["db:*", "db:*=x", "db:*=-1", "db:*=2.5", "/x=1", "a b=1", "db:*=100001"])
def test_a_bad_entry_is_named(bad: str) -> None:
    with pytest.raises(ValueError, match="bad concurrency limit"):
        parse_limits(f"ok=1,{bad}")


def test_an_exact_key_beats_the_longest_prefix_which_beats_a_shorter_one() -> None:
    limits = {"db:*": 3, "db:reports*": 5, "db:reports": 1, "*": 100}
    assert limit_for("db:reports", limits) == 1
    assert limit_for("db:reports-eu", limits) == 5
    assert limit_for("db:users", limits) == 3
    assert limit_for("api:stripe", limits) == 100
    assert limit_for("api:stripe", {"db:*": 3}) is None


def test_limits_set_through_the_api_override_the_setting() -> None:
    assert in_force("db:*=3,api:stripe=10", {"db:*": 1}) == {"db:*": 1, "api:stripe": 10}


def test_one_parked_job_goes_back_per_free_slot_and_none_over_a_lowered_limit() -> None:
    assert free_slots(3, 0) == 3
    assert free_slots(3, 2) == 1
    assert free_slots(3, 3) == 0
    assert free_slots(1, 4) == 0


def test_the_sweep_frees_only_old_slots_of_jobs_that_neither_wait_nor_run() -> None:
    now = 1000.0
    holders = {"running": 900.0, "waiting": 900.0, "ended": 900.0, "gone": 900.0, "just-taken": 999.0}
    states = {"running": "RUNNING", "waiting": "WAITING", "ended": "COMPLETED", "just-taken": "IN_QUEUE"}
    assert stale_holders(holders, states, now, stale_after=15) == {"ended": 900.0, "gone": 900.0}
