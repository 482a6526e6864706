"""Why a job ended or went back to its queue: the ``reason`` field of a job, one vocabulary.

The error text says the particulars (which exception, which limit); the reason is the category a
client, a dashboard or a retry policy can act on.
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    # Decided by Laneyard.
    CANCELLED_ON_REQUEST = "cancelled on request"
    RUNNER_LOST = "runner lost"
    TIMEOUT_REAPED = "timeout (reaped)"
    HEARTBEAT_TIMEOUT = "heartbeat timeout"
    DEAD_LETTERED = "dead-lettered"
    SUBTASK_FAILED = "subtask failed"
    # How a task's run ended.
    TIMEOUT = "timeout"
    EXCEPTION = "exception"
    BAD_ARGS = "bad_args"
    BAD_RESULT = "bad_result"
    MEMORY = "memory"
    START_FAILED = "start_failed"
    CANCELLED_BY_TASK = "cancelled by task"
    EXIT_CODE = "exit code"  # stored with the code: "exit code 3"


def exit_code(code: int) -> str:
    """The reason of a subprocess task that exited with ``code`` (not 0, not 100)."""
    return f"{Reason.EXIT_CODE} {code}"
