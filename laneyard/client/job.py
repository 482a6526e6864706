"""A handle on one job: its id, and the means to wait for its result, follow it, or cancel it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from laneyard.errors import JobCancelled, JobFailed
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.views.jobs import CancelResult, JobView, LogLine

if TYPE_CHECKING:
    from laneyard.client.aio import AsyncClient
    from laneyard.client.sync import Client

# Polling for a job's end starts fast (most jobs are short) and slows down to this.
POLL_FIRST = 0.05
POLL_GROWTH = 1.5
POLL_MAX = 2.0
# How long a job that the server does not know yet is waited for before JobNotFound is believed.
NOT_FOUND_GRACE = 5.0
# Following a log: first, growth and cap of the pause while no new line comes.
LOG_POLL = (0.2, 1.5, 1.0)


def poll_delays(
    first: float = POLL_FIRST, growth: float = POLL_GROWTH, cap: float = POLL_MAX
) -> Iterator[float]:
    delay = first
    while True:
        yield delay
        delay = min(cap, delay * growth)


def ended(view: JobView) -> bool:
    return view.state in TERMINAL


def outcome(view: JobView) -> Any:
    """The result of an ended job, or the error that says how it did not complete."""
    if view.state == JobState.COMPLETED:
        return view.result
    if view.state == JobState.CANCELLED:
        raise JobCancelled(view.id, view.reason)
    raise JobFailed(view.id, view.reason, view.error)


class Job:
    """A submitted job. ``wait()`` with a ``Client``, ``await result()`` with an ``AsyncClient``."""

    def __init__(self, job_id: str, client: Client | AsyncClient, *, duplicate: bool = False) -> None:
        self.id = job_id
        # True when an earlier submission with the same idempotency key made this job.
        self.duplicate = duplicate
        self._client = client

    def __repr__(self) -> str:
        return f"Job({self.id!r}{', duplicate=True' if self.duplicate else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Job) and other.id == self.id

    def __hash__(self) -> int:
        return hash(self.id)

    # With a Client (blocking).

    def wait(self, timeout: float | None = None) -> Any:
        """Blocks until the job ends and returns its result; raises ``JobFailed``, ``JobCancelled``,
        or ``WaitTimeout`` after ``timeout`` seconds (the job goes on)."""
        return self._sync().wait(self.id, timeout)

    def info(self) -> JobView:
        return self._sync().get(self.id)

    def cancel(self) -> CancelResult:
        return self._sync().cancel(self.id)

    def logs(self, *, follow: bool = True) -> Iterator[LogLine]:
        return self._sync().logs(self.id, follow=follow)

    # With an AsyncClient.

    async def result(self, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (arq-style API)
        """Waits for the job's end and returns its result; raises as ``wait`` does."""
        return await self._async().wait(self.id, timeout)

    async def fetch(self) -> JobView:
        return await self._async().get(self.id)

    async def stop(self) -> CancelResult:
        """Cancels the job (``cancel`` for an ``AsyncClient``)."""
        return await self._async().cancel(self.id)

    def follow(self) -> AsyncIterator[LogLine]:
        return self._async().logs(self.id, follow=True)

    def _sync(self) -> Client:
        from laneyard.client.sync import Client

        if not isinstance(self._client, Client):
            raise TypeError("this job came from an AsyncClient: use `await job.result()`")
        return self._client

    def _async(self) -> AsyncClient:
        from laneyard.client.aio import AsyncClient

        if not isinstance(self._client, AsyncClient):
            raise TypeError("this job came from a Client: use `job.wait()`")
        return self._client
