from __future__ import annotations

from typing import Any

from laneyard.shared.states import JobState
from laneyard.shared.tiers import Tier
from laneyard.shared.views.jobs import JobView

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z


def stored_job() -> dict[str, Any]:
    """A job in its second attempt as the store keeps it: the timeline's attempts and states in no
    particular order, and WAITING of attempt 1 stamped a little before IN_QUEUE (clock skew between
    admission and the dispatcher)."""
    return {
        "_id": "j-1",
        "task": "demo.noop",
        "args": {"n": 1},
        "state": "RUNNING",
        "lane": "main",
        "cluster": "default",
        "priority": 5,
        "tier": "TINY",
        "labels": {"team": "a"},
        "attempt": 2,
        "max_retries": 1,
        "max_execution_time": 60.0,
        "runner": "r-1",
        "created_at": T0,
        "updated_at": T0 + 10.5,
        "children": {"c-late": {"attempt": 2, "at": T0 + 9}, "c-early": {"attempt": 2, "at": T0 + 8}},
        "timeline": {
            "2": {"RUNNING": T0 + 10.5, "IN_QUEUE": T0 + 6, "WAITING": T0 + 7},
            "1": {"ERROR": T0 + 5, "RUNNING": T0 + 2, "WAITING": T0 - 0.004, "IN_QUEUE": T0},
        },
    }


def test_a_job_view_orders_its_transitions_by_attempt_and_lifecycle() -> None:
    view = JobView.from_doc(stored_job())

    assert [(t.attempt, t.state) for t in view.transitions] == [
        (1, JobState.IN_QUEUE),
        (1, JobState.WAITING),
        (1, JobState.RUNNING),
        (1, JobState.ERROR),
        (2, JobState.IN_QUEUE),
        (2, JobState.WAITING),
        (2, JobState.RUNNING),
    ]
    assert (view.state, view.tier, view.subtasks) == (JobState.RUNNING, Tier.TINY, ["c-early", "c-late"])


def test_a_job_view_writes_its_times_as_iso_utc_ending_in_z() -> None:
    dumped = JobView.from_doc(stored_job()).model_dump(mode="json")

    assert dumped["created_at"] == "2023-11-14T22:13:20Z"
    assert dumped["updated_at"] == "2023-11-14T22:13:30.500000Z"
    assert dumped["last_completed_at"] is None
    times = [t["at"] for t in dumped["transitions"]]
    assert len(times) == 7 and all(at.endswith("Z") for at in times)
    assert times[1] == "2023-11-14T22:13:19.996000Z"
    assert dumped["state"] == "RUNNING" and dumped["transitions"][0]["state"] == "IN_QUEUE"


def test_a_job_view_in_a_list_leaves_the_args_out() -> None:
    assert JobView.from_doc(stored_job()).args == {"n": 1}
    assert JobView.from_doc(stored_job(), with_args=False).args is None
