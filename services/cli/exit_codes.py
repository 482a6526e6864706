"""What ``laneyard`` exits with, so scripts can tell a failed job from a down API.

====  ==========================================================================
code  meaning
====  ==========================================================================
0     success (for ``submit --wait``: the job COMPLETED)
1     the job ended in ERROR (``submit --wait``)
2     usage error: a bad option or argument (also what typer/click exit with)
3     the job was CANCELLED (``submit --wait``)
4     not found (HTTP 404): no such job, cluster or dead letter
5     the API is unreachable: connection refused, DNS failure or timeout
6     the API key is missing, invalid or lacks the scope (HTTP 401/403)
7     the API refused the request (HTTP 409/413/422/429 and other 4xx); the detail is printed
8     the API failed (HTTP 5xx) or answered something that is not the expected JSON
124   ``submit --wait --timeout`` ran out before the job ended (as timeout(1) does)
130   interrupted (Ctrl-C) while waiting or following; the job itself goes on
====  ==========================================================================
"""

from __future__ import annotations

from enum import IntEnum

from laneyard.errors import JobNotFound, LaneyardError, Refused, Unauthorized, Unavailable
from laneyard.shared.states import JobState


class ExitCode(IntEnum):
    OK = 0
    JOB_FAILED = 1
    USAGE = 2
    CANCELLED = 3
    NOT_FOUND = 4
    UNREACHABLE = 5
    UNAUTHORIZED = 6
    REJECTED = 7
    SERVER_ERROR = 8
    TIMEOUT = 124
    INTERRUPTED = 130


def for_status(status: int) -> ExitCode:
    if status == 404:
        return ExitCode.NOT_FOUND
    if status in (401, 403):
        return ExitCode.UNAUTHORIZED
    if 400 <= status < 500:
        return ExitCode.REJECTED
    return ExitCode.SERVER_ERROR


def for_error(exc: LaneyardError) -> ExitCode:
    """A failed request, as the client raised it, as an exit code."""
    if isinstance(exc, Refused | Unauthorized):
        return for_status(exc.status)
    if isinstance(exc, JobNotFound):
        return ExitCode.NOT_FOUND
    if isinstance(exc, Unavailable):
        # A 5xx answer is the API failing; no answer at all is the API being unreachable.
        return ExitCode.UNREACHABLE if exc.status is None else ExitCode.SERVER_ERROR
    return ExitCode.SERVER_ERROR


def for_state(state: str) -> ExitCode:
    """A terminal job state as an exit code; anything else is not an outcome yet."""
    return {
        JobState.COMPLETED: ExitCode.OK,
        JobState.ERROR: ExitCode.JOB_FAILED,
        JobState.CANCELLED: ExitCode.CANCELLED,
    }.get(JobState(state), ExitCode.TIMEOUT)


def help_table() -> str:
    """The table above, for the ``--help`` epilog."""
    return (
        "Exit codes: 0 ok, 1 job ended in ERROR, 2 usage error, 3 job CANCELLED, 4 not found, "
        "5 API unreachable, 6 API key refused (401/403), 7 request refused (other 4xx), "
        "8 API error (5xx), 124 --wait timed out, 130 interrupted (Ctrl-C)."
    )
