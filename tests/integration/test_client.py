"""The public AsyncClient against admission's real app, RabbitMQ and the MongoDB-wire server."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from laneyard import (
    AsyncClient,
    Job,
    JobCancelled,
    JobNotFound,
    JobState,
    Refused,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store import dead_letters
from laneyard.shared.store.database import Database
from tests.support.admission import laneyard_client


class Flaky(httpx.AsyncBaseTransport):
    """Passes requests on; the first ``times`` matching ones fail after (or instead of) the server."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        fail: Callable[[httpx.Request, httpx.Response | None], httpx.Response],
        times: int,
        *,
        deliver: bool,
    ) -> None:
        self.inner, self.fail, self.left, self.deliver = inner, fail, times, deliver
        self.seen = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen += 1
        if self.left <= 0 or request.method != "POST":
            return await self.inner.handle_async_request(request)
        self.left -= 1
        answer = await self.inner.handle_async_request(request) if self.deliver else None
        return self.fail(request, answer)


def lost_answer(request: httpx.Request, _: httpx.Response | None) -> httpx.Response:
    raise httpx.ReadError("connection reset after the request was sent", request=request)


def busy(_: httpx.Request, __: httpx.Response | None) -> httpx.Response:
    return httpx.Response(503, json={"detail": "busy"}, headers={"Retry-After": "0"})


async def test_submit_get_duplicate_and_wait_timeout(settings: Settings, db: Database, bus: Bus) -> None:
    async with laneyard_client(settings, db, bus) as client:
        job = await client.submit("demo.echo", {"text": "hi"}, lane="main", priority=7, labels={"team": "a"})
        assert isinstance(job, Job) and not job.duplicate
        view = await job.fetch()
        assert view.state is JobState.IN_QUEUE and view.args == {"text": "hi"} and view.priority == 7
        first = await client.submit("demo.echo", idempotency_key="order-17")
        again = await client.submit("demo.echo", idempotency_key="order-17")
        assert again == first and again.duplicate
        with pytest.raises(WaitTimeout) as waited:
            await job.result(timeout=0.3)
        assert isinstance(waited.value, TimeoutError) and waited.value.job_id == job.id


async def test_refusals_carry_the_servers_message(settings: Settings, db: Database, bus: Bus) -> None:
    async with laneyard_client(settings, db, bus) as client:
        with pytest.raises(Refused) as unknown:
            await client.submit("demo.echo", cluster="nowhere")
        assert unknown.value.status == 404 and "unknown cluster 'nowhere'" in unknown.value.message
        with pytest.raises(Refused) as invalid:
            await client.submit("demo.echo", priority=42)
        assert invalid.value.status == 422 and "priority" in invalid.value.message
        with pytest.raises(JobNotFound):
            await client.get("0" * 32)
        with pytest.raises(JobNotFound):
            await client.cancel("0" * 32)


async def test_api_keys_and_scopes(settings: Settings, db: Database, bus: Bus) -> None:
    keys = "reader-key-0123456789:read;submitter-key-0123456789:submit,read"
    async with laneyard_client(settings, db, bus, api_keys=keys) as anonymous:
        with pytest.raises(Unauthorized) as missing:
            await anonymous.status()
        assert missing.value.status == 401
    async with laneyard_client(settings, db, bus, api_key="reader-key-0123456789", api_keys=keys) as reader:
        await reader.status()
        with pytest.raises(Unauthorized) as scope:
            await reader.submit("demo.echo")
        assert scope.value.status == 403 and "submit" in scope.value.message
    async with laneyard_client(settings, db, bus, api_key="submitter-key-0123456789", api_keys=keys) as ok:
        assert (await ok.submit("demo.echo")).id


async def test_list_is_a_lazy_paged_iterator_and_cancel_ends_waiting(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with laneyard_client(settings, db, bus) as client:
        made = [(await client.submit("demo.echo", {"i": i}, labels={"batch": "b1"})).id for i in range(7)]
        await client.submit("demo.echo", labels={"batch": "b2"})
        seen = [view.id async for view in client.list(label={"batch": "b1"}, page_size=3)]
        assert seen == list(reversed(made))
        queued = [view.id async for view in client.list(state=JobState.IN_QUEUE, page_size=50)]
        assert len(queued) == 8
        job = client.job(made[0])
        cancelled = await job.stop()
        assert cancelled.state is JobState.CANCELLED
        with pytest.raises(JobCancelled) as info:
            await job.result(timeout=5)
        assert info.value.reason == "cancelled on request"
        with pytest.raises(Refused) as twice:
            await client.cancel(made[0])
        assert twice.value.status == 409


async def test_one_page_at_a_time_with_the_cursor_and_the_health_check(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with laneyard_client(settings, db, bus) as client:
        await client.health()
        made = [(await client.submit("demo.echo", labels={"batch": "p"})).id for _ in range(3)]
        first = await client.job_page(label={"batch": "p"}, limit=2)
        assert [view.id for view in first.jobs] == made[:0:-1] and first.next_cursor is not None
        rest = await client.job_page(label={"batch": "p"}, cursor=first.next_cursor, limit=2)
        assert [view.id for view in rest.jobs] == made[:1] and rest.next_cursor is None

        body = json.dumps({"task": "demo.echo"}).encode()
        dead = [await dead_letters.record(db, source="runner", reason="test", body=body) for _ in range(2)]
        page = await client.dead_letter_page(source="runner", limit=1)
        assert [item.id for item in page.items] == dead[1:] and page.next is not None
        after = await client.dead_letter_page(source="runner", cursor=page.next, limit=1)
        assert [item.id for item in after.items] == dead[:1]


async def test_submit_many_chunks_and_returns_refusals_in_order(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with laneyard_client(settings, db, bus) as client:
        specs = [{"task": "demo.noop", "args": {"i": i}} for i in range(1050)]
        specs.insert(10, {"task": "demo.noop", "priority": 99})
        specs.insert(600, {"task": "demo.noop", "cluster": "nowhere"})
        results = await client.submit_many(specs)  # type: ignore[arg-type]
        assert len(results) == 1052
        assert isinstance(results[10], Refused) and results[10].status == 422
        assert isinstance(results[600], Refused) and results[600].status == 404
        jobs = [r for r in results if isinstance(r, Job)]
        assert len(jobs) == 1050 and len({j.id for j in jobs}) == 1050
        assert await db["jobs"].count_documents({}) == 1050
        doc = await db["jobs"].find_one({"_id": jobs[700].id})
        assert doc is not None and doc["args"] == {"i": 700}


async def test_a_submission_whose_answer_was_lost_is_retried_as_the_same_job(
    settings: Settings, db: Database, bus: Bus
) -> None:
    flaky: list[Flaky] = []

    def wrap(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        flaky.append(Flaky(inner, lost_answer, 2, deliver=True))
        return flaky[0]

    async with laneyard_client(settings, db, bus, wrap=wrap) as client:
        job = await client.submit("demo.echo", {"n": 1})
        assert flaky[0].seen == 3 and job.duplicate  # the third try found the first one's job
        assert await db["jobs"].count_documents({}) == 1
        many = await client.submit_many([{"task": "demo.noop"}] * 3)
        assert all(isinstance(j, Job) for j in many)


async def test_busy_answers_are_retried_and_give_up_as_unavailable(
    settings: Settings, db: Database, bus: Bus
) -> None:
    def wrap_twice(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return Flaky(inner, busy, 2, deliver=False)

    async with laneyard_client(settings, db, bus, wrap=wrap_twice) as client:
        await client.submit("demo.echo")
        assert await db["jobs"].count_documents({}) == 1

    def wrap_always(inner: httpx.AsyncBaseTransport) -> httpx.AsyncBaseTransport:
        return Flaky(inner, busy, 100, deliver=False)

    async with laneyard_client(settings, db, bus, wrap=wrap_always) as client:
        with pytest.raises(Unavailable):
            await client.submit("demo.echo")


async def test_status_clusters_throttles_schedules_and_dead_letters(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with laneyard_client(settings, db, bus) as client:
        await client.submit("demo.echo")
        status = await client.status()
        assert any(lane.lane == "main" for lane in status.lanes) and "default" in status.clusters

        cluster = await client.create_cluster("GPU farm")
        assert cluster.slug.startswith("gpu-farm-")
        assert cluster.slug in {c.slug for c in await client.clusters()}
        assert (await client.get_cluster(cluster.slug)).name == "GPU farm"
        await client.delete_cluster(cluster.slug)
        with pytest.raises(Refused) as gone:
            await client.get_cluster(cluster.slug)
        assert gone.value.status == 404

        assert (await client.set_throttle(lane="main", rate=5)).rate == 5
        assert (await client.throttles()).lanes["main"] == 5
        await client.clear_throttle(lane="main")
        assert "main" not in (await client.throttles()).lanes
        with pytest.raises(ValueError):
            await client.set_throttle(rate=1)

        schedule = await client.create_schedule(
            "demo.echo", {"x": 1}, every=60, name="hourly-ish", lane="main"
        )
        assert schedule.every == 60 and schedule.job is not None and schedule.job["args"] == {"x": 1}
        assert (await client.pause_schedule(schedule.id)).paused
        assert not (await client.resume_schedule(schedule.id)).paused
        assert [s.id for s in await client.schedules()] == [schedule.id]
        await client.delete_schedule(schedule.id)
        with pytest.raises(Refused):
            await client.get_schedule(schedule.id)

        body = json.dumps({"task": "demo.echo", "args": {"y": 2}}).encode()
        dead_id = await dead_letters.record(db, source="admission", reason="test", body=body)
        items = [item async for item in client.dead_letters(source="admission")]
        assert [item.id for item in items] == [dead_id]
        assert (await client.dead_letter(dead_id)).reason == "test"
        replay = await client.replay(dead_id)
        assert not replay.duplicate and (await client.replay(dead_id)).job_id == replay.job_id
        assert (await client.get(replay.job_id)).args == {"y": 2}


async def test_a_job_handle_of_one_kind_of_client_says_which_call_to_use() -> None:
    client = AsyncClient("http://127.0.0.1:9")
    with pytest.raises(TypeError, match=r"await job\.result"):
        client.job("j" * 32).wait()
    await client.aclose()
