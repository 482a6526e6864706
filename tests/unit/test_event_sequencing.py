"""Which staged state changes become events, in what order, and what each event says."""

from __future__ import annotations

from laneyard.shared.event_sequencing import decide, happened, natural_key
from laneyard.shared.store.event_intents import intent, intent_key

NOW = 1_800_000_000.0


def job(timeline: dict[str, dict[str, float]], **fields: object) -> dict[str, object]:
    return {"_id": "j1", "task": "t", "lane": "main", "cluster": "default", "labels": {"k": "v"},
            "attempt": 1, "timeline": timeline, **fields}  # fmt: skip


def test_a_change_happened_once_the_timeline_shows_it_at_its_time_or_later() -> None:
    waiting = intent("j1", 1, "WAITING", NOW)
    assert not happened(waiting, None)  # the job's record may still be on its way
    assert not happened(waiting, job({"1": {"IN_QUEUE": NOW - 1}}))
    assert happened(waiting, job({"1": {"WAITING": NOW}}))
    # Left WAITING and came back later in the same attempt: this change happened first.
    assert happened(waiting, job({"1": {"WAITING": NOW + 3}}))
    # A server keeping 15 significant digits.
    assert happened(waiting, job({"1": {"WAITING": float(f"{NOW + 0.123456789:.15g}")}}))
    assert not happened(intent("j1", 2, "WAITING", NOW), job({"1": {"WAITING": NOW}}))


def test_changes_that_happened_become_events_oldest_first_and_the_rest_wait_or_are_dropped() -> None:
    intents = [
        intent("j1", 1, "RUNNING", NOW + 2, {"runner": "r1"}),
        intent("j1", 1, "WAITING", NOW + 1),
        intent("j1", 1, "COMPLETED", NOW + 3),  # its write is on its way
        intent("gone", 1, "WAITING", NOW - 100),  # its writer died before writing
    ]
    jobs = {"j1": job({"1": {"WAITING": NOW + 1, "RUNNING": NOW + 2}}, runner="r1", progress=0.5)}
    decision = decide(intents, jobs, now=NOW + 4, settle_seconds=30)
    assert [(e["state"], e["runner"]) for e in decision.events] == [("WAITING", None), ("RUNNING", "r1")]
    assert decision.events[1]["progress"] == 0.5 and decision.events[0]["progress"] is None
    assert decision.events[0]["labels"] == {"k": "v"} and decision.events[0]["task"] == "t"
    assert set(decision.settled) == {intents[0]["_id"], intents[1]["_id"], intents[3]["_id"]}
    assert decision.dropped == 1


def test_one_change_staged_twice_or_already_in_the_log_is_one_event() -> None:
    first, second = intent("j1", 1, "IN_QUEUE", NOW), intent("j1", 1, "IN_QUEUE", NOW)
    assert first["_id"] != second["_id"]  # each writer withdraws only its own
    jobs = {"j1": job({"1": {"IN_QUEUE": NOW}})}
    assert len(decide([first, second], jobs, now=NOW, settle_seconds=30).events) == 1
    seen = {natural_key("j1", 1, "IN_QUEUE", NOW)}
    again = decide([first], jobs, now=NOW, settle_seconds=30, seen=seen)
    assert again.events == [] and again.settled == [first["_id"]]


def test_intent_keys_sort_by_time() -> None:
    keys = [intent_key("b", 1, "WAITING", NOW + 0.5), intent_key("a", 1, "WAITING", NOW + 10)]
    assert sorted(keys) == keys
