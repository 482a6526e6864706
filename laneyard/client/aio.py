"""``AsyncClient``: the HTTP API from asyncio code; the same calls as ``Client``, awaited."""

from __future__ import annotations

import asyncio
import builtins
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import httpx
from typing_extensions import Unpack

from laneyard.client import batching, calls
from laneyard.client import events as client_events
from laneyard.client.calls import Call, JobSpec, SubmitOptions
from laneyard.client.job import LOG_POLL, NOT_FOUND_GRACE, Job, ended, outcome, poll_delays
from laneyard.client.retry import RetryPolicy, retry_after, status_retryable, transport_retryable
from laneyard.client.settings import DEFAULT_TIMEOUT, base_url, headers
from laneyard.errors import JobNotFound, Refused, Unavailable, WaitTimeout
from laneyard.shared.states import JobState
from laneyard.shared.views.clusters import ClusterView
from laneyard.shared.views.concurrency import ConcurrencyView, LimitSet
from laneyard.shared.views.dead_letters import (
    DeadLetterDetail,
    DeadLetterItem,
    DeadLetterPage,
    ReplayResult,
)
from laneyard.shared.views.events import Event
from laneyard.shared.views.fairness import FairnessWeight
from laneyard.shared.views.jobs import CancelResult, JobPage, JobView, LogLine, LogPage
from laneyard.shared.views.key_rates import KeyRates, KeyRateSet
from laneyard.shared.views.pauses import PauseView
from laneyard.shared.views.schedules import BackfillResult, ScheduleView, TriggerResult
from laneyard.shared.views.status import Status
from laneyard.shared.views.throttles import RateSet, Throttles
from laneyard.shared.views.webhooks import DeliveryView, WebhookView

T = TypeVar("T")


class AsyncClient:
    """Talks to admission from asyncio. ``url`` defaults to ``LANEYARD_URL``, ``api_key`` to
    ``LANEYARD_API_KEY``.

    Connection failures and 429/502/503/504 answers are retried with backoff (``Retry-After``
    honoured); submissions carry an idempotency key, so a retry never makes a second job.
    """

    def __init__(
        self,
        url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.url = base_url(url)
        self.retry = retry or RetryPolicy()
        self._http = httpx.AsyncClient(
            base_url=self.url, headers=headers(api_key), timeout=timeout, transport=transport
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def send(self, call: Call[T]) -> T:
        """Executes one call, retrying what may be retried; raises a ``LaneyardError`` otherwise."""
        for attempt in range(1, self.retry.attempts + 1):
            last = attempt == self.retry.attempts
            try:
                response = await self._http.request(
                    call.method, call.path, params=list(call.params), json=call.body
                )
            except httpx.TransportError as exc:
                if last or not transport_retryable(exc, call.replay_safe):
                    raise Unavailable(f"{call.method} {call.path}: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(self.retry.delay(attempt))
                continue
            if response.is_success:
                return call.read(response)
            if not last and status_retryable(response.status_code, call.replay_safe):
                await asyncio.sleep(self.retry.delay(attempt, retry_after(response)))
                continue
            raise calls.error_for(response, call)
        raise AssertionError("unreachable")  # the last attempt returns or raises

    # Events.

    async def events(
        self,
        *,
        lane: str | Sequence[str] | None = None,
        cluster: str | Sequence[str] | None = None,
        task: str | Sequence[str] | None = None,
        job_id: str | Sequence[str] | None = None,
        labels: Mapping[str, str] | None = None,
        after: int | None = None,
        follow: bool = True,
    ) -> AsyncIterator[Event]:
        """Job state changes as they happen (``GET /v1/events``): ``async for event in
        client.events(lane="main")``. ``after`` resumes after that ``event_id``. A dropped
        connection is made again from the last event received, so none is missed or repeated;
        without ``follow`` the iterator ends once it has caught up."""
        reader = client_events.Reader(last_id=after)
        params = list(client_events.query(lane=lane, cluster=cluster, task=task, job_id=job_id,
                                          labels=labels, follow=follow))  # fmt: skip
        failures = 0
        while True:
            sent = {"Accept": "text/event-stream"}
            if reader.last_id is not None:
                sent["Last-Event-ID"] = str(reader.last_id)
            try:
                async with self._http.stream(
                    "GET", client_events.PATH, params=params, headers=sent,
                    timeout=client_events.timeout(self._http.timeout.connect or DEFAULT_TIMEOUT),
                ) as response:  # fmt: skip
                    if not response.is_success:
                        await response.aread()
                        if failures + 1 < self.retry.attempts and status_retryable(
                            response.status_code, True
                        ):
                            failures += 1
                            await asyncio.sleep(self.retry.delay(failures, retry_after(response)))
                            continue
                        raise calls.error_for(response, Call("GET", client_events.PATH, calls.nothing))
                    async for line in response.aiter_lines():
                        event = reader.line(line)
                        if event is not None:
                            failures = 0
                            yield event
            except httpx.TransportError as exc:
                failures += 1
                if failures >= self.retry.attempts:
                    raise Unavailable(f"GET {client_events.PATH}: {type(exc).__name__}: {exc}") from exc
                await asyncio.sleep(self.retry.delay(failures))
                continue
            if not follow:
                return
            await asyncio.sleep((reader.retry_ms or 1000) / 1000)  # the server ended the stream (a restart)

    # Jobs.

    async def submit(
        self, task: str, args: Mapping[str, Any] | None = None, **options: Unpack[SubmitOptions]
    ) -> Job:
        """Submits one job and returns its handle; ``Refused`` says why the server would not."""
        result = await self.send(calls.submit(calls.submission(task, args, options)))
        return Job(result.id, self, duplicate=result.duplicate)

    async def submit_many(self, jobs: Iterable[JobSpec]) -> builtins.list[Job | Refused]:
        """Submits any number of jobs, 500 a request; returns, in order, each job's handle or why
        it was refused. Items the server could not take for now are sent again."""
        out: builtins.list[Job | Refused | None] = []
        pending: builtins.list[tuple[int, dict[str, Any]]] = []
        for spec in jobs:
            body = batching.body_of(spec)
            out.append(body if isinstance(body, Refused) else None)
            if not isinstance(body, Refused):
                pending.append((len(out) - 1, body))
        for chunk in batching.chunked(pending):
            for attempt in range(1, self.retry.attempts + 1):
                result = await self.send(calls.submit_batch([body for _, body in chunk]))
                settled, again = batching.sort_out(chunk, result.jobs, attempt < self.retry.attempts)
                for index, item in settled:
                    found = batching.answer(item)
                    out[index] = (
                        found if isinstance(found, Refused) else Job(found[0], self, duplicate=found[1])
                    )
                if not again:
                    break
                chunk = again
                await asyncio.sleep(self.retry.delay(attempt))
        return [item if item is not None else Refused("not sent", 503) for item in out]

    def job(self, job_id: str) -> Job:
        """A handle on an existing job (no request is made)."""
        return Job(job_id, self)

    async def get(self, job_id: str) -> JobView:
        """The job's fields, result or error, and every transition; ``JobNotFound`` if there is none."""
        return await self.send(calls.get_job(job_id))

    async def list(
        self,
        *,
        state: JobState | str | None = None,
        lane: str | None = None,
        cluster: str | None = None,
        label: Mapping[str, str] | Iterable[str] | None = None,
        page_size: int = 100,
    ) -> AsyncIterator[JobView]:
        """Jobs newest first, without args, fetched a page at a time as the iterator is consumed."""
        cursor: str | None = None
        while True:
            page = await self.job_page(
                state=state, lane=lane, cluster=cluster, label=label, cursor=cursor, limit=page_size
            )
            for item in page.jobs:
                yield item
            if page.next_cursor is None or not page.jobs:
                return
            cursor = page.next_cursor

    async def job_page(
        self,
        *,
        state: JobState | str | None = None,
        lane: str | None = None,
        cluster: str | None = None,
        label: Mapping[str, str] | Iterable[str] | None = None,
        cursor: str | None = None,
        limit: int = 100,
    ) -> JobPage:
        """One page of ``list``, for callers that keep the cursor: pass its ``next_cursor`` back."""
        return await self.send(calls.list_jobs(calls.job_filters(state, lane, cluster, label), cursor, limit))

    async def cancel(self, job_id: str) -> CancelResult:
        """A queued job is cancelled at once; a running one is asked to stop (``cancel_requested``)."""
        return await self.send(calls.cancel(job_id))

    async def wait(self, job_id: str, timeout: float | None = None) -> Any:  # noqa: ASYNC109 (arq-style API)
        """Blocks until the job ends; see ``Job.wait``."""
        deadline = None if timeout is None else time.monotonic() + timeout
        # A job published over AMQP is recorded by admission a moment after the broker confirms
        # it: "not found" is believed only once it lasts.
        unseen_until = time.monotonic() + NOT_FOUND_GRACE
        for delay in poll_delays():
            try:
                view = await self.get(job_id)
            except JobNotFound:
                if time.monotonic() > unseen_until:
                    raise
                view = None
            if view is not None and ended(view):
                return outcome(view)
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WaitTimeout(job_id, timeout or 0.0)
                delay = min(delay, left)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def logs(
        self, job_id: str, *, attempt: int | None = None, all_attempts: bool = False, follow: bool = True
    ) -> AsyncIterator[LogLine]:
        """The job's log lines in order, from its current attempt (``all_attempts``: from its first;
        ``attempt``: that one only). With ``follow``, waits for new lines and ends when the job has
        ended and every line was read, moving on to each retry's attempt as it comes."""
        async for page in self.log_pages(job_id, attempt=attempt, all_attempts=all_attempts, follow=follow):
            for item in page.lines:
                yield item

    async def log_pages(
        self, job_id: str, *, attempt: int | None = None, all_attempts: bool = False, follow: bool = True
    ) -> AsyncIterator[LogPage]:
        """``logs`` a page at a time, empty pages of a follower's polls included: each page says
        which attempt its lines are of, how many attempts there are, and the job's state."""
        current, after, pinned = attempt or (1 if all_attempts else None), 0, attempt is not None
        delays = poll_delays(*LOG_POLL)
        while True:
            page = await self.send(calls.logs(job_id, current, after))
            yield page
            after = page.next
            if page.lines:
                delays = poll_delays(*LOG_POLL)
                continue
            if not pinned and page.attempts > page.attempt:
                # A retry began: this attempt's lines were all stored before it did.
                current, after = page.attempt + 1, 0
                continue
            if page.done or not follow:
                return
            current = page.attempt
            await asyncio.sleep(next(delays))

    # The rest of the API.

    async def health(self) -> None:
        """Returns once admission answers its health check; ``Unavailable`` if it cannot be reached."""
        await self.send(calls.health())

    async def status(self) -> Status:
        """Queued jobs per lane, runners and capacity per cluster, tasks waiting for a runner."""
        return await self.send(calls.status())

    async def create_schedule(
        self,
        task: str,
        args: Mapping[str, Any] | None = None,
        *,
        every: float | None = None,
        cron: str | None = None,
        start_after: str | None = None,
        on: str | None = None,
        name: str | None = None,
        overlap: str | None = None,
        timezone: str | None = None,
        jitter: float | None = None,
        **options: Unpack[SubmitOptions],
    ) -> ScheduleView:
        """A schedule that submits this job ``every`` N seconds, on a ``cron`` expression (in UTC, or
        in ``timezone``), or once after job ``start_after`` ends. ``overlap``: skip (default),
        buffer_one, cancel_other or allow, while the previous run is unfinished."""
        body = calls.schedule_body(
            task,
            args,
            options,
            every=every,
            cron=cron,
            start_after=start_after,
            on=on,
            name=name,
            overlap=overlap,
            timezone=timezone,
            jitter=jitter,
        )
        return await self.send(calls.create_schedule(body))

    async def schedules(self) -> builtins.list[ScheduleView]:
        return (await self.send(calls.list_schedules())).schedules

    async def get_schedule(self, schedule_id: str) -> ScheduleView:
        return await self.send(calls.get_schedule(schedule_id))

    async def pause_schedule(self, schedule_id: str) -> ScheduleView:
        return await self.send(calls.pause_schedule(schedule_id, True))

    async def resume_schedule(self, schedule_id: str) -> ScheduleView:
        return await self.send(calls.pause_schedule(schedule_id, False))

    async def trigger_schedule(self, schedule_id: str, overlap: str | None = None) -> TriggerResult:
        """Runs the schedule's job now, as a manual run. Its overlap policy applies unless
        ``overlap`` says otherwise (``"allow"`` starts it regardless); a skip is refused (409)."""
        return await self.send(calls.trigger_schedule(schedule_id, overlap))

    async def backfill_schedule(self, schedule_id: str, start: datetime, end: datetime) -> BackfillResult:
        """A run per past fire time in [start, end]; fire times that already ran keep their job."""
        return await self.send(calls.backfill_schedule(schedule_id, start, end))

    async def delete_schedule(self, schedule_id: str) -> None:
        await self.send(calls.delete_schedule(schedule_id))

    async def create_webhook(
        self,
        url: str,
        lane: str = "main",
        *,
        events: Sequence[str] | None = None,
        cluster: str | None = None,
    ) -> WebhookView:
        """POST the end of every job of ``lane`` (ending in one of ``events``) to ``url``, signed."""
        return await self.send(calls.create_webhook(url, lane, events, cluster))

    async def webhooks(self) -> builtins.list[WebhookView]:
        return (await self.send(calls.list_webhooks())).webhooks

    async def delete_webhook(self, webhook_id: str) -> None:
        await self.send(calls.delete_webhook(webhook_id))

    async def job_webhooks(self, job_id: str) -> builtins.list[DeliveryView]:
        """The deliveries of a job's end: id, URL, state and the latest attempts."""
        return (await self.send(calls.job_webhooks(job_id))).deliveries

    async def create_cluster(self, name: str) -> ClusterView:
        return await self.send(calls.create_cluster(name))

    async def clusters(self) -> builtins.list[ClusterView]:
        return (await self.send(calls.list_clusters())).clusters

    async def get_cluster(self, slug: str) -> ClusterView:
        return await self.send(calls.get_cluster(slug))

    async def delete_cluster(self, slug: str) -> None:
        await self.send(calls.delete_cluster(slug))

    async def throttles(self) -> Throttles:
        return await self.send(calls.throttles())

    async def set_throttle(
        self, *, rate: float, lane: str | None = None, cluster: str | None = None
    ) -> RateSet:
        """Limits admission of a lane or a cluster to ``rate`` jobs per second (0 holds all back)."""
        kind, name = calls.throttle_target(lane, cluster)
        return await self.send(calls.set_throttle(kind, name, rate))

    async def clear_throttle(self, *, lane: str | None = None, cluster: str | None = None) -> None:
        kind, name = calls.throttle_target(lane, cluster)
        await self.send(calls.clear_throttle(kind, name))

    async def fairness_weights(self) -> builtins.list[FairnessWeight]:
        """Fairness keys given a weight (every other key weighs 1), in the lanes this key covers."""
        return (await self.send(calls.fairness_weights())).weights

    async def set_fairness_weight(self, lane: str, key: str, weight: float) -> FairnessWeight:
        """Gives fairness key ``key`` of ``lane`` a share of ``weight`` against keys weighing 1."""
        return await self.send(calls.set_fairness_weight(lane, key, weight))

    async def clear_fairness_weight(self, lane: str, key: str) -> None:
        """Back to weight 1."""
        await self.send(calls.clear_fairness_weight(lane, key))

    async def concurrency(self) -> ConcurrencyView:
        """The concurrency limits in force, and the keys holding slots (how many of their jobs
        wait for or run on a runner) or with jobs waiting for a slot."""
        return await self.send(calls.concurrency())

    async def set_concurrency_limit(self, key: str, max_running: int) -> LimitSet:
        """At most ``max_running`` jobs whose concurrency key is ``key`` (each key of a prefix, if it
        ends in ``*``) run at once, over every cluster (0 holds them all)."""
        return await self.send(calls.set_concurrency_limit(key, max_running))

    async def clear_concurrency_limit(self, key: str) -> None:
        """Back to the limit in LANEYARD_CONCURRENCY_LIMITS, or none."""
        await self.send(calls.clear_concurrency_limit(key))

    async def key_rates(self) -> KeyRates:
        """The rates of concurrency and fairness keys in force, in jobs per second."""
        return await self.send(calls.key_rates())

    async def set_key_rate(self, key: str, per_second: float) -> KeyRateSet:
        """Holds jobs whose concurrency or fairness key is ``key`` (a prefix if it ends in ``*``) to
        ``per_second``, over every lane (0 holds them all back)."""
        return await self.send(calls.set_key_rate(key, per_second))

    async def clear_key_rate(self, key: str) -> None:
        await self.send(calls.clear_key_rate(key))

    async def pauses(self) -> builtins.list[PauseView]:
        """Every pause in force (those on this key's lanes and clusters)."""
        return (await self.send(calls.pauses())).pauses

    async def pause(self, *, lane: str | None = None, cluster: str | None = None) -> PauseView:
        """Pauses a lane of ``cluster`` (no cluster: on every cluster), or with no lane drains the
        whole cluster: jobs are still accepted, none are dispatched, running ones go on."""
        return await self.send(calls.pause(lane, cluster, True))

    async def resume(self, *, lane: str | None = None, cluster: str | None = None) -> PauseView:
        """Lifts the pause made with the same lane and cluster."""
        return await self.send(calls.pause(lane, cluster, False))

    async def dead_letters(
        self, *, source: str | None = None, page_size: int = 100
    ) -> AsyncIterator[DeadLetterItem]:
        """Dead letters newest first, without bodies, a page at a time."""
        cursor: str | None = None
        while True:
            page = await self.dead_letter_page(source=source, cursor=cursor, limit=page_size)
            for item in page.items:
                yield item
            if page.next is None or not page.items:
                return
            cursor = page.next

    async def dead_letter_page(
        self, *, source: str | None = None, cursor: str | None = None, limit: int = 100
    ) -> DeadLetterPage:
        """One page of ``dead_letters``, for callers that keep the cursor: pass its ``next`` back."""
        return await self.send(calls.dead_letters(source, cursor, limit))

    async def dead_letter(self, dead_id: str) -> DeadLetterDetail:
        return await self.send(calls.get_dead_letter(dead_id))

    async def replay(self, dead_id: str) -> ReplayResult:
        """Admits a new job from a dead letter; replayed again, the same job comes back."""
        return await self.send(calls.replay_dead_letter(dead_id))
