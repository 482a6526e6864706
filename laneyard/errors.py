"""One error tree for everything the public API raises; catch ``LaneyardError`` for all of them."""

from __future__ import annotations


class LaneyardError(Exception):
    """The root of every error Laneyard's public API raises."""


class JobFailed(LaneyardError):
    """The job ended ``ERROR``: ``reason`` says how (``task raised``, ``timeout``, ...), ``error``
    holds the task's error text when it raised."""

    def __init__(self, job_id: str, reason: str | None, error: str | None) -> None:
        super().__init__(
            f"job {job_id} failed: {reason or 'no reason recorded'}" + (f": {error}" if error else "")
        )
        self.job_id = job_id
        self.reason = reason
        self.error = error


class JobCancelled(LaneyardError):
    """The job ended ``CANCELLED``."""

    def __init__(self, job_id: str, reason: str | None) -> None:
        super().__init__(f"job {job_id} was cancelled" + (f": {reason}" if reason else ""))
        self.job_id = job_id
        self.reason = reason


class JobNotFound(LaneyardError):
    """No job has this id (or the API key may not see it); ``detail`` is the server's own words
    when it gave some (for a job's logs: also that the job has no such attempt)."""

    def __init__(self, job_id: str, detail: str | None = None) -> None:
        super().__init__(detail or f"no job {job_id!r}")
        self.job_id = job_id
        self.detail = detail


class Unauthorized(LaneyardError):
    """The API key is missing or not valid (401), or lacks the scope the call needs (403)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class Refused(LaneyardError):
    """The server refused the request as it is (a 4xx); ``message`` is the server's own words."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(f"{status}: {message}")
        self.message = message
        self.status = status


class Unavailable(LaneyardError):
    """The server could not be reached or answered that it cannot serve now, after every retry.

    When it did answer, ``status`` is its 5xx status and ``detail`` its own words; when it could not
    be reached, both are None."""

    def __init__(self, message: str, status: int | None = None, detail: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.detail = detail


class WaitTimeout(LaneyardError, TimeoutError):
    """The job did not end within the time given to ``Job.wait`` / ``Job.result``; it goes on."""

    def __init__(self, job_id: str, timeout: float) -> None:
        super().__init__(f"job {job_id} did not end within {timeout:g} s")
        self.job_id = job_id
        self.timeout = timeout
