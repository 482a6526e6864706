"""Whose turn it is in a fair lane (services/dispatcher/fair_pick.py), and where a key's jobs go."""

from __future__ import annotations

from collections import Counter

from laneyard.services.dispatcher.fair_pick import StrideClock
from laneyard.shared.fair_shards import DEFAULT, queue_id, shard_of


def drain(clock: StrideClock, backlog: dict[str, list[int]], weights: dict[str, float], n: int) -> list[str]:
    """Takes ``n`` jobs from queues holding the given priorities (head first); returns whose."""
    order = []
    for _ in range(n):
        heads = {q: jobs[0] for q, jobs in backlog.items() if jobs}
        q = clock.pick(heads)
        if q is None:
            break
        backlog[q].pop(0)
        clock.started(q, weights.get(q, 1.0))
        order.append(q)
    return order


def test_a_key_behind_a_long_backlog_waits_for_one_job_per_active_queue() -> None:
    clock = StrideClock()
    backlog = {"a": [5] * 10_000}
    drain(clock, backlog, {}, 500)  # a has been running alone for a while: it saved no credit
    backlog["b"] = [5] * 10
    order = drain(clock, backlog, {}, 40)
    assert order[:20] == ["b", "a"] * 10 or order[:20] == ["a", "b"] * 10
    assert order.index("b") <= 1


def test_weights_give_shares_in_proportion() -> None:
    clock = StrideClock()
    backlog = {"x": [5] * 1000, "y": [5] * 1000, "z": [5] * 1000}
    order = Counter(drain(clock, backlog, {"x": 1, "y": 1, "z": 2}, 400))
    assert order == {"x": 100, "y": 100, "z": 200}


def test_a_higher_priority_goes_first_whatever_the_turn() -> None:
    clock = StrideClock()
    backlog = {"a": [5, 5, 5], "b": [9, 1]}
    order = drain(clock, backlog, {}, 5)
    assert order == ["b", "a", "a", "a", "b"]


def test_an_idle_queue_saves_no_credit() -> None:
    clock = StrideClock()
    drain(clock, {"a": [5] * 5, "b": [5] * 5}, {}, 10)
    backlog = {"a": [5] * 100}
    drain(clock, backlog, {}, 50)  # b idle meanwhile
    backlog["b"] = [5] * 100
    order = drain(clock, backlog, {}, 20)
    assert max(Counter(order).values()) <= 11


def test_nothing_to_pick() -> None:
    assert StrideClock().pick({}) is None


def test_a_key_always_goes_to_the_same_shard_and_keys_spread() -> None:
    assert shard_of("tenant:acme", 32) == shard_of("tenant:acme", 32)
    # Stable across processes and versions: not Python's salted hash.
    assert shard_of("tenant:acme", 32) == 21
    used = Counter(shard_of(f"tenant:{i}", 32) for i in range(3200))
    assert len(used) == 32 and max(used.values()) < 150
    assert queue_id(None, 32) == DEFAULT
    assert queue_id("tenant:acme", 32) == "f21"
