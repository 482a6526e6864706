"""Job states and the transitions allowed between them.

A job's state only ever changes through the named operations of ``shared.lifecycle``, each a
conditional write that names the states it leaves in its filter: a transition that is not in
``ALLOWED`` is a programming error, and one whose source state no longer holds simply does not
happen (so no transition can happen twice).
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    IN_QUEUE = "IN_QUEUE"
    WAITING = "WAITING"
    RUNNING = "RUNNING"
    # Its own function returned; it holds no runner and ends when its sub-tasks have.
    AWAITING_SUBTASKS = "AWAITING_SUBTASKS"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    CANCELLED = "CANCELLED"


TERMINAL: frozenset[JobState] = frozenset({JobState.COMPLETED, JobState.ERROR, JobState.CANCELLED})

ALLOWED: dict[JobState, frozenset[JobState]] = {
    # IN_QUEUE -> ERROR: a message that cannot be processed is dead-lettered before it runs.
    JobState.IN_QUEUE: frozenset({JobState.WAITING, JobState.ERROR, JobState.CANCELLED}),
    # WAITING -> IN_QUEUE: the runner that got it had no room after all; it goes back to dispatch.
    JobState.WAITING: frozenset({JobState.RUNNING, JobState.IN_QUEUE, JobState.ERROR, JobState.CANCELLED}),
    # RUNNING -> IN_QUEUE: a retry; RUNNING -> RUNNING: another runner takes over a lost one's job.
    JobState.RUNNING: frozenset(
        {
            JobState.RUNNING,
            JobState.IN_QUEUE,
            JobState.AWAITING_SUBTASKS,
            JobState.COMPLETED,
            JobState.ERROR,
            JobState.CANCELLED,
        }
    ),
    JobState.AWAITING_SUBTASKS: frozenset({JobState.COMPLETED, JobState.ERROR, JobState.CANCELLED}),
    JobState.COMPLETED: frozenset(),
    JobState.ERROR: frozenset(),
    JobState.CANCELLED: frozenset(),
}


def check_transition(sources: frozenset[JobState], target: JobState) -> None:
    bad = [s for s in sources if target not in ALLOWED[s]]
    if bad:
        raise ValueError(f"transition {sorted(bad)} -> {target} is not allowed")
