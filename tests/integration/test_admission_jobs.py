"""Submitting, listing and cancelling jobs through admission, against RabbitMQ and the database."""

from __future__ import annotations

import asyncio
import json

import pytest

from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.admitting.refusal import NotAdmitted, RefusalKind
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import Submission
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database, connect
from tests.support.admission import api
from tests.support.broker import message_count

BODY = {"task": "demo.noop", "tier": "TINY"}


async def test_submission_rules_answer_with_clear_errors(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus, max_args_bytes=1000) as (client, _):
        big = await client.post("/v1/jobs", json={**BODY, "args": {"x": "y" * 2000}})
        assert big.status_code == 413 and "limit is 1000 bytes" in big.json()["detail"]
        bad = await client.post("/v1/jobs", json={**BODY, "priority": 12})
        assert bad.status_code == 422
        assert any(err["loc"][-1] == "priority" for err in bad.json()["detail"])
        never = await client.post("/v1/jobs", json={**BODY, "start_at": "0001-01-01T00:00:00"})
        assert never.status_code == 422 and "start_at" in never.json()["detail"]
        unknown = await client.post("/v1/jobs", json={**BODY, "cluster": "no-such-one"})
        assert unknown.status_code == 404 and "no-such-one" in unknown.json()["detail"]


async def test_the_same_idempotency_key_returns_the_first_job(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        first = await client.post("/v1/jobs", json={**BODY, "idempotency_key": "order-42"})
        again = await client.post("/v1/jobs", json={**BODY, "idempotency_key": "order-42", "priority": 9})
        assert first.status_code == 202 and first.json()["duplicate"] is False
        assert again.status_code == 200
        assert again.json() == {"id": first.json()["id"], "state": "IN_QUEUE", "duplicate": True}
    assert await message_count(settings, bus.names.lane_queue("main", "default")) == 1


async def test_a_key_whose_first_submission_never_went_through_is_not_answered_as_a_duplicate(
    settings: Settings, db: Database, bus: Bus
) -> None:
    # The chaos run found this: the first submission claimed the key, then its publish failed on
    # a closed channel; the client's retry was told "duplicate" with the id of a job that never
    # existed. Now the retry hears "retry", and once the stale claim is taken over it goes through
    # (under the claim's job id).
    from laneyard.shared.store import idempotency

    await idempotency.claim(db, "order-43", "ghost-job")
    async with api(settings, db, bus) as (client, _):
        retry = await client.post("/v1/jobs", json={**BODY, "idempotency_key": "order-43"})
        assert retry.status_code == 503 and retry.headers["retry-after"] == "1"
        assert "order-43" in retry.json()["detail"]
        await db["idempotency"].update_one({"_id": "order-43"}, {"$set": {"at": 0.0}})  # gone stale
        later = await client.post("/v1/jobs", json={**BODY, "idempotency_key": "order-43"})
        # The job goes through under the claim's id: had the first submission published after
        # all, its message and this one are the same job.
        assert later.status_code == 202 and later.json()["id"] == "ghost-job"
        again = await client.post("/v1/jobs", json={**BODY, "idempotency_key": "order-43"})
        assert again.status_code == 200 and again.json()["id"] == "ghost-job"


async def test_two_replicas_racing_on_one_key_make_exactly_one_job(
    settings: Settings, db: Database, bus: Bus
) -> None:
    # Two replicas: each its own broker connection and database client.
    other_bus = Bus(settings)
    await other_bus.connect()
    other_client, other_db = connect(settings)
    try:
        replicas = [Admitter(bus, db, 10_000), Admitter(other_bus, other_db, 10_000)]
        sub = Submission.model_validate({**BODY, "idempotency_key": "race"})
        results = await asyncio.gather(*(replicas[i % 2].admit(sub) for i in range(20)))
    finally:
        await other_bus.close()
        await other_client.close()
    assert len({r.id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert await db["jobs"].count_documents({"idempotency_key": "race"}) == 1
    assert await message_count(settings, bus.names.lane_queue("main", "default")) == 1


async def test_admitter_refuses_unknown_cluster_directly(db: Database, bus: Bus) -> None:
    with pytest.raises(NotAdmitted) as info:
        await Admitter(bus, db, 1000).admit(Submission.model_validate({**BODY, "cluster": "nowhere"}))
    assert info.value.kind is RefusalKind.NOT_FOUND and info.value.http_status == 404


async def test_job_list_filters_pages_and_orders_newest_first(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        ids = []
        for i in range(7):
            body = {**BODY, "lane": "other" if i % 2 else "main", "labels": {"team": "a" if i < 3 else "b"}}
            ids.append((await client.post("/v1/jobs", json=body)).json()["id"])
            await asyncio.sleep(0.002)  # distinct created_at, so "newest first" has one answer
        assert (await client.post(f"/v1/jobs/{ids[0]}/cancel")).status_code == 200

        listed = (await client.get("/v1/jobs")).json()
        assert [j["id"] for j in listed["jobs"]] == ids[::-1]
        assert listed["next_cursor"] is None and listed["jobs"][0]["args"] is None

        other = (await client.get("/v1/jobs", params={"lane": "other"})).json()["jobs"]
        assert [j["id"] for j in other] == [ids[5], ids[3], ids[1]]
        team_a = (await client.get("/v1/jobs", params={"label": "team:a", "cluster": "default"})).json()
        assert [j["id"] for j in team_a["jobs"]] == [ids[2], ids[1], ids[0]]
        cancelled = (await client.get("/v1/jobs", params={"state": "CANCELLED"})).json()["jobs"]
        assert [j["id"] for j in cancelled] == [ids[0]]
        both = (await client.get("/v1/jobs", params=[("label", "team:b"), ("lane", "main")])).json()["jobs"]
        assert [j["id"] for j in both] == [ids[6], ids[4]]

        pages: list[str] = []
        cursor = None
        for _ in range(10):
            params: dict[str, str | int] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/jobs", params=params)).json()
            pages += [j["id"] for j in page["jobs"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert pages == ids[::-1]
        skipped = (await client.get("/v1/jobs", params={"skip": 5})).json()["jobs"]
        assert [j["id"] for j in skipped] == [ids[1], ids[0]]

        assert (await client.get("/v1/jobs", params={"limit": 501})).status_code == 422
        assert (await client.get("/v1/jobs", params={"state": "SLEEPING"})).status_code == 422
        bad_label = await client.get("/v1/jobs", params={"label": "nocolon"})
        assert bad_label.status_code == 422 and "key:value" in bad_label.json()["detail"]
        bad_cursor = await client.get("/v1/jobs", params={"cursor": "!!"})
        assert bad_cursor.status_code == 422


async def test_cancel_queued_running_and_finished_jobs(settings: Settings, db: Database, bus: Bus) -> None:
    channel, topology = await bus.consumer_channel(10)
    control = await topology.listener_queue(bus.names.control_exchange)
    async with api(settings, db, bus) as (client, _):
        queued, waiting, running = [(await client.post("/v1/jobs", json=BODY)).json()["id"] for _ in range(3)]
        for job_id in (waiting, running):
            await jobs.transition(db, job_id, sources={JobState.IN_QUEUE}, target=JobState.WAITING, attempt=1)
        await jobs.transition(db, running, sources={JobState.WAITING}, target=JobState.RUNNING, attempt=1)

        for job_id in (queued, waiting):
            reply = await client.post(f"/v1/jobs/{job_id}/cancel")
            assert reply.status_code == 200 and reply.json() == {
                "id": job_id,
                "state": "CANCELLED",
                "cancel_requested": False,
            }
            doc = await jobs.get(db, job_id)
            assert doc is not None and doc["state"] == "CANCELLED"

        reply = await client.post(f"/v1/jobs/{running}/cancel")
        assert reply.status_code == 202
        assert reply.json() == {"id": running, "state": "RUNNING", "cancel_requested": True}
        bodies = []
        for _ in range(50):
            message = await control.get(fail=False)
            if message is None:
                await asyncio.sleep(0.05)
                continue
            bodies.append(json.loads(message.body))
            await message.ack()
            if {"type": "cancel", "job_id": running} in bodies:
                break
        assert {"type": "cancel", "job_id": running} in bodies

        finished = await client.post(f"/v1/jobs/{queued}/cancel")
        assert finished.status_code == 409 and "CANCELLED" in finished.json()["detail"]
        assert (await client.post("/v1/jobs/nope/cancel")).status_code == 404
    await channel.close()
