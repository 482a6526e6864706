from __future__ import annotations

import pytest
from pydantic import ValidationError

from laneyard.shared.models import JobMessage, Submission
from laneyard.shared.states import JobState, check_transition
from laneyard.shared.tiers import Tier


def test_defaults() -> None:
    sub = Submission(task="demo.noop")
    assert (sub.lane, sub.cluster, sub.priority, sub.tier) == ("main", "default", 5, Tier.LARGE)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"task": "demo.noop", "priority": 10}, "priority"),
        ({"task": "demo.noop", "tier": "GIANT"}, "tier"),
        ({"task": "demo.noop", "lane": "has.dot"}, "lane"),
        ({"task": "demo.noop", "cluster": "Upper"}, "cluster"),
        ({"task": ""}, "task"),
        ({"task": "demo.noop", "surprise": 1}, "surprise"),
        ({"task": "demo.noop", "args": [1, 2]}, "args"),
        ({"task": "demo.noop", "max_execution_time": 0}, "max_execution_time"),
    ],
)
def test_invalid_submissions_name_the_field(body: dict[str, object], field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        Submission.model_validate(body)
    assert field in str(exc.value)


def test_message_round_trip() -> None:
    sub = Submission(task="demo.echo", args={"a": 1}, tier=Tier.SMALL, priority=9)
    msg = JobMessage.from_submission(sub, "abc")
    again = JobMessage.model_validate_json(msg.model_dump_json())
    assert again == msg and again.attempt == 1


def test_terminal_states_are_final() -> None:
    for terminal in (JobState.COMPLETED, JobState.ERROR, JobState.CANCELLED):
        with pytest.raises(ValueError):
            check_transition(frozenset({terminal}), JobState.RUNNING)
    check_transition(frozenset({JobState.IN_QUEUE}), JobState.WAITING)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"a\x00b": 1}, "NUL"),
        ({"a": ["\ud800"]}, "lone surrogate"),
        ({"a": {"b\x00": {}}}, "NUL"),
    ],
)
def test_args_a_job_document_cannot_hold_are_refused(args: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Submission.model_validate({"task": "demo.noop", "args": args})


def test_args_nested_too_deep_are_refused() -> None:
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(40):
        inner["a"] = {}
        inner = inner["a"]  # type: ignore[assignment]
    with pytest.raises(ValidationError, match="nested deeper"):
        Submission.model_validate({"task": "demo.noop", "args": deep})
    assert Submission.model_validate({"task": "demo.noop", "args": {"a": {"$b": [1, "x"]}}})


@pytest.mark.parametrize(
    ("args", "says"),
    [
        ({"n": 2**63}, "64 bits"),
        ({"n": [-(2**63) - 1]}, "64 bits"),
        ({"x": float("nan")}, "JSON can carry"),
        ({"x": {"y": float("-inf")}}, "JSON can carry"),
    ],
)
def test_args_beyond_what_bson_and_json_carry_are_refused(args: dict[str, object], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Submission.model_validate({"task": "demo.noop", "args": args})
    edge = {"n": [2**63 - 1, -(2**63)], "x": 1.5e308, "b": True}
    assert Submission.model_validate({"task": "demo.noop", "args": edge}).args == edge


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("priority", True),
        ("priority", "5"),
        ("max_retries", False),
        ("retry_backoff", "1.5"),
        ("slots", True),
    ],
)
def test_numbers_are_json_numbers_not_booleans_or_strings(field: str, value: object) -> None:
    with pytest.raises(ValidationError, match="expected a number"):
        Submission.model_validate({"task": "demo.noop", field: value})
    assert Submission.model_validate({"task": "demo.noop", field: 1}).model_dump()[field] == 1


@pytest.mark.parametrize("start_at", [0, 1700000000, 1.5, "0", "1700000000", "2030-01-01", "tomorrow"])
def test_start_at_is_an_iso_date_and_time_and_nothing_else(start_at: object) -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        Submission.model_validate({"task": "demo.noop", "start_at": start_at})


@pytest.mark.parametrize(
    "start_at", ["2030-01-01T00:00:00Z", "2030-01-01 08:00:00+02:00", "2030-01-01T00:00"]
)
def test_start_at_takes_iso_dates_and_times(start_at: str) -> None:
    assert Submission.model_validate({"task": "demo.noop", "start_at": start_at}).start_at is not None
