"""The chaos run's judgement of a job's timeline (pure; runs in the default test run)."""

from __future__ import annotations

from collections import Counter

from tests.chaos.verdict import judge, two_endings


def doc(state: str, attempt: int, timeline: dict[str, dict[str, float]]) -> dict[str, object]:
    return {"_id": "j", "state": state, "attempt": attempt, "timeline": timeline}


def test_a_retry_after_an_error_is_one_ending() -> None:
    d = doc(
        "COMPLETED", 2, {"1": {"IN_QUEUE": 1, "RUNNING": 2, "ERROR": 3}, "2": {"IN_QUEUE": 4, "COMPLETED": 5}}
    )
    assert two_endings(d) is None


def test_two_terminal_stamps_in_one_attempt() -> None:
    assert (
        two_endings(doc("ERROR", 1, {"1": {"COMPLETED": 2, "ERROR": 3}}))
        == "attempt 1 has COMPLETED and ERROR"
    )


def test_completed_then_ran_again() -> None:
    d = doc("ERROR", 2, {"1": {"COMPLETED": 2}, "2": {"RUNNING": 3, "ERROR": 4}})
    assert two_endings(d) == "attempt 1 ended COMPLETED, then attempt 2 ran"


def test_state_and_final_stamp_disagree() -> None:
    assert (
        two_endings(doc("CANCELLED", 1, {"1": {"COMPLETED": 2}}))
        == "state CANCELLED but attempt 1 ended COMPLETED"
    )


def test_judge_counts_lost_reexecuted_and_duplicate_keys() -> None:
    docs = {
        "a": doc("COMPLETED", 1, {"1": {"COMPLETED": 1}}),
        "b": {**doc("ERROR", 1, {"1": {"ERROR": 1}}), "reason": "runner lost"},
        "c": doc("RUNNING", 1, {"1": {"RUNNING": 1}}),
    }
    accepted = {"k1": "a", "k2": "b", "k3": "c", "k4": "d"}
    v = judge(4, accepted, Counter(), docs, Counter({"a": 2, "b": 1}), Counter({"k1": 2, "k2": 1}))
    assert v.states == Counter({"COMPLETED": 1, "ERROR": 1})
    assert v.reasons == Counter({"runner lost": 1})
    assert v.more_than_once == ["a"]
    assert sorted(v.lost) == ["c", "d"] and v.lost_states == Counter({"RUNNING": 1, "no document": 1})
    assert v.keys_with_two_jobs == ["k1"] and not v.doubles
