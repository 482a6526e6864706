"""``POST /v1/jobs/batch``: many jobs in one request, each admitted or refused on its own."""

from __future__ import annotations

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import MAX_BATCH
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database
from tests.support.admission import api
from tests.support.broker import message_count

BODY = {"task": "demo.noop", "tier": "TINY"}


async def test_a_batch_is_admitted_in_order(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus) as (client, _):
        three = [{**BODY, "priority": p} for p in range(3)]
        reply = await client.post("/v1/jobs/batch", json={"jobs": three})
    assert reply.status_code == 202, reply.text
    body = reply.json()
    assert (body["admitted"], body["refused"]) == (3, 0)
    for priority, item in enumerate(body["jobs"]):
        assert item["status"] == 202 and item["state"] == "IN_QUEUE"
        doc = await jobs.get(db, item["id"])
        assert doc is not None and doc["state"] == JobState.IN_QUEUE and doc["priority"] == priority
    assert await message_count(settings, bus.names.lane_queue("main", "default")) == 3


async def test_refused_jobs_are_reported_each_and_the_rest_go_through(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus, max_args_bytes=1000) as (client, _):
        first = await client.post("/v1/jobs", json={**BODY, "idempotency_key": "batch-dup"})
        reply = await client.post(
            "/v1/jobs/batch",
            json={
                "jobs": [
                    BODY,
                    {**BODY, "cluster": "no-such-cluster"},
                    {**BODY, "args": {"x": "y" * 2000}},
                    {**BODY, "idempotency_key": "batch-dup"},
                    {**BODY, "lane": "other"},
                ]
            },
        )
    assert reply.status_code == 207, reply.text
    items = reply.json()["jobs"]
    assert [i["status"] for i in items] == [202, 404, 413, 200, 202]
    assert "no-such-cluster" in items[1]["detail"] and "1000 bytes" in items[2]["detail"]
    assert items[3]["duplicate"] is True and items[3]["id"] == first.json()["id"]
    assert reply.json()["admitted"] == 3 and reply.json()["refused"] == 2
    assert items[1]["id"] is None and items[2]["id"] is None
    assert await message_count(settings, bus.names.lane_queue("main", "default")) == 2
    assert await message_count(settings, bus.names.lane_queue("other", "default")) == 1


async def test_an_invalid_job_refuses_the_whole_batch_before_anything_is_admitted(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        bad = await client.post("/v1/jobs/batch", json={"jobs": [BODY, {**BODY, "tier": "ENORMOUS"}]})
        empty = await client.post("/v1/jobs/batch", json={"jobs": []})
        too_many = await client.post("/v1/jobs/batch", json={"jobs": [BODY] * (MAX_BATCH + 1)})
        not_a_list = await client.post("/v1/jobs/batch", json=BODY)
    assert bad.status_code == 422
    assert any(err["loc"][:4] == ["body", "jobs", 1, "tier"] for err in bad.json()["detail"])
    assert empty.status_code == 422 and too_many.status_code == 422 and not_a_list.status_code == 422
    assert await message_count(settings, bus.names.lane_queue("main", "default")) in (None, 0)


async def test_bodies_over_the_limit_are_refused_before_parsing(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus, max_args_bytes=1000) as (client, _):
        huge = b'{"task": "demo.noop", "args": {"x": "' + b"y" * 200_000 + b'"}}'
        declared = await client.post("/v1/jobs", content=huge, headers={"content-type": "application/json"})

        async def chunks() -> object:
            for _ in range(100):
                yield b"y" * 10_000

        json_type = {"content-type": "application/json"}
        streamed = await client.post("/v1/jobs", content=chunks(), headers=json_type)
    assert declared.status_code == 413 and "the limit is" in declared.json()["detail"]
    assert streamed.status_code == 413 and "limit" in streamed.json()["detail"]


async def test_a_broker_that_went_away_answers_503_retry_not_500(settings: Settings, db: Database) -> None:
    # The chaos run's RabbitMQ restart showed it: a submission on a closed channel was a bare 500
    # ("Exception in ASGI application"); it is a service that is away, and a retry will do.
    gone = Bus(settings.model_copy(update={"network_timeout": 1.0}))
    await gone.connect()
    await gone.close()
    async with api(settings, db, gone) as (client, _):
        one = await client.post("/v1/jobs", json={**BODY, "lane": "gone"})
        many = await client.post("/v1/jobs/batch", json={"jobs": [{**BODY, "lane": "gone"}]})
    assert one.status_code == 503 and one.headers["retry-after"] == "1", one.text
    assert "retry" in one.json()["detail"]
    assert many.status_code == 207 and many.json()["jobs"][0]["status"] == 503
