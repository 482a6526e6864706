"""The client's decisions, without a server: retries, errors, bodies, batches, task handles."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from laneyard import (
    AsyncClient,
    Client,
    JobCancelled,
    JobFailed,
    JobNotFound,
    Refused,
    Task,
    Unauthorized,
    Unavailable,
    task,
)
from laneyard.client import batching, calls
from laneyard.client.job import outcome, poll_delays
from laneyard.client.retry import RetryPolicy, retry_after, status_retryable, transport_retryable
from laneyard.shared.models import BatchItem
from laneyard.shared.views.jobs import JobView


def response(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers, request=httpx.Request("GET", "http://x/"))


def test_backoff_grows_is_jittered_and_capped() -> None:
    policy = RetryPolicy(attempts=8, base=0.2, cap=5.0)
    rng = random.Random(7)
    delays = [policy.delay(n, rng=rng) for n in range(1, 9)]
    for n, delay in enumerate(delays, start=1):
        ceiling = min(5.0, 0.2 * 2 ** (n - 1))
        assert ceiling / 2 <= delay <= ceiling
    assert max(delays) <= 5.0


def test_retry_after_is_honoured_up_to_the_cap() -> None:
    policy = RetryPolicy(cap=5.0)
    assert policy.delay(1, retry_after=2.0) == 2.0
    assert policy.delay(1, retry_after=600.0) == 5.0
    assert retry_after(response(503, headers={"Retry-After": "3"})) == 3.0
    assert retry_after(response(503, headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"})) is None


def test_what_is_retried() -> None:
    request = httpx.Request("POST", "http://x/")
    # Never connected: nothing was sent, so even a call that is not safe to repeat goes again.
    assert transport_retryable(httpx.ConnectError("refused", request=request), replay_safe=False)
    assert not transport_retryable(httpx.ReadError("reset", request=request), replay_safe=False)
    assert transport_retryable(httpx.ReadError("reset", request=request), replay_safe=True)
    assert status_retryable(503, True) and status_retryable(429, True)
    assert not status_retryable(503, False) and not status_retryable(500, True)
    assert not status_retryable(422, True)


def test_errors_carry_the_servers_message() -> None:
    call = calls.get_job("abc")
    assert isinstance(calls.error_for(response(404, {"detail": "no job 'abc'"}), call), JobNotFound)
    denied = calls.error_for(response(403, {"detail": "this API key does not have the 'submit' scope"}), call)
    assert isinstance(denied, Unauthorized) and denied.status == 403 and "scope" in denied.message
    refused = calls.error_for(response(409, {"detail": "job is already COMPLETED"}), calls.cancel("abc"))
    assert isinstance(refused, JobNotFound | Refused) and "already COMPLETED" in str(refused)
    invalid = calls.error_for(
        response(422, {"detail": [{"loc": ["body", "priority"], "msg": "less than or equal to 9"}]}),
        calls.submit({}),
    )
    assert isinstance(invalid, Refused) and invalid.message == "priority: less than or equal to 9"
    assert isinstance(calls.error_for(response(502, {"detail": "bad gateway"}), call), Unavailable)


def test_errors_keep_the_status_and_the_servers_words() -> None:
    """What a caller needs to say which request failed and how, e.g. the CLI's one-line errors."""
    no_attempt = "job 'j' has had 1 attempt(s); there is no attempt 3"
    missing = calls.error_for(response(404, {"detail": no_attempt}), calls.logs("j", 3, 0))
    assert isinstance(missing, JobNotFound) and missing.job_id == "j" and str(missing) == no_attempt
    assert str(calls.error_for(response(404, {"detail": "no job 'j'"}), calls.get_job("j"))) == "no job 'j'"
    failed = calls.error_for(response(500, {"detail": "boom"}), calls.status())
    assert isinstance(failed, Unavailable) and (failed.status, failed.detail) == (500, "boom")
    assert Unavailable("GET /v1/status: ConnectError").status is None


def log_api(request: httpx.Request) -> httpx.Response:
    """A stand-in for admission's paged log API: a job retried once, two lines in each attempt."""
    attempt = int(request.url.params.get("attempt", 2))  # without one: the current attempt
    after = int(request.url.params["after"])
    lines = [
        {"seq": n, "ts": None, "stream": "stdout", "line": f"{attempt}.{n}"} for n in (1, 2) if n > after
    ]
    page = {"id": "j", "state": "ERROR", "attempt": attempt, "attempts": 2, "lines": lines}
    return httpx.Response(200, json={**page, "next": 2, "done": True})


async def test_logs_start_at_the_current_attempt_unless_told_otherwise_in_both_clients() -> None:
    every = ["1.1", "1.2", "2.1", "2.2"]
    with Client("http://x", transport=httpx.MockTransport(log_api)) as client:
        assert [line.line for line in client.logs("j")] == every[2:]
        assert [line.line for line in client.logs("j", all_attempts=True)] == every
        assert [line.line for line in client.logs("j", attempt=1)] == every[:2]
        pages = client.log_pages("j", all_attempts=True)
        assert [(page.attempt, len(page.lines)) for page in pages] == [(1, 2), (1, 0), (2, 2), (2, 0)]
    async with AsyncClient("http://x", transport=httpx.MockTransport(log_api)) as aio:
        assert [line.line async for line in aio.logs("j")] == every[2:]
        assert [line.line async for line in aio.logs("j", all_attempts=True)] == every
        assert [line.line async for line in aio.logs("j", attempt=1)] == every[:2]
        read = [(page.attempt, len(page.lines)) async for page in aio.log_pages("j", all_attempts=True)]
        assert read == [(1, 2), (1, 0), (2, 2), (2, 0)]


def test_a_submission_always_carries_an_idempotency_key() -> None:
    start = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
    body = calls.submission("reports.build", {"month": "2026-10"}, {"lane": "reports", "start_at": start})
    assert body["idempotency_key"].startswith("client:")
    assert body["start_at"] == "2026-12-01T08:00:00+00:00" and body["lane"] == "reports"
    mine = calls.submission("t", None, {"idempotency_key": "order-17"})
    assert mine["idempotency_key"] == "order-17" and mine["args"] == {}
    again = calls.submission("t", None, {})
    assert again["idempotency_key"] != body["idempotency_key"]


def test_batches_check_each_job_and_chunk_at_500() -> None:
    assert isinstance(batching.body_of({"task": "ok", "priority": 3}), dict)
    bad = batching.body_of({"task": "ok", "priority": 42})
    assert isinstance(bad, Refused) and bad.status == 422 and "priority" in bad.message
    assert isinstance(batching.body_of({"args": {}}), Refused)
    sizes = [len(c) for c in batching.chunked(((i, {}) for i in range(1201)), 500)]
    assert sizes == [500, 500, 201]
    assert batching.refusal(BatchItem(status=202, id="x")) is None
    refusal = batching.refusal(BatchItem(status=404, detail="unknown cluster 'x'"))
    assert refusal is not None and refusal.status == 404
    assert batching.retry_item(BatchItem(status=503, detail="retry"))


def view(state: str, **fields: Any) -> JobView:
    return JobView.from_doc({"_id": "j1", "task": "t", "state": state, **fields})


def test_outcome_of_an_ended_job() -> None:
    assert outcome(view("COMPLETED", result={"n": 1})) == {"n": 1}
    with pytest.raises(JobFailed) as failed:
        outcome(view("ERROR", reason="task raised", error="ValueError: bad month"))
    assert failed.value.reason == "task raised" and "bad month" in str(failed.value)
    with pytest.raises(JobCancelled):
        outcome(view("CANCELLED", reason="cancelled on request"))


def test_polling_backs_off() -> None:
    delays = poll_delays(0.05, 1.5, 2.0)
    first = [next(delays) for _ in range(12)]
    assert first[0] == 0.05 and first == sorted(first) and first[-1] == 2.0


@task("unit.build_report", lane="reports")
async def build_report(ctx: Any, month: str, *, draft: bool = False) -> dict[str, Any]:
    return {"month": month, "draft": draft, "ctx": ctx}


async def test_a_task_stays_callable_and_binds_its_arguments() -> None:
    assert isinstance(build_report, Task) and build_report.name == "unit.build_report"
    assert await build_report("ctx", "2026-10") == {"month": "2026-10", "draft": False, "ctx": "ctx"}
    spec = build_report.options(priority=8).call("2026-10", draft=True).spec
    assert spec == {
        "lane": "reports",
        "priority": 8,
        "task": "unit.build_report",
        "args": {"month": "2026-10", "draft": True},
    }
    with pytest.raises(TypeError):
        build_report.call(mnth="2026-10")  # type: ignore[call-arg]
    from laneyard.services.runner.registry import default_registry

    registered = default_registry.get("unit.build_report")
    assert registered is not None and registered.is_async
