"""The dead-letter API: list, inspect and replay, against RabbitMQ and the database."""

from __future__ import annotations

import asyncio
import time

import aio_pika

from laneyard.services.admission.amqp_ingress import AmqpIngress
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import dead_letters, jobs
from laneyard.shared.store.database import Database
from tests.support.admission import api
from tests.support.broker import message_count

KEYS = "read-key:read;admin-key:admin"
READ = {"Authorization": "Bearer read-key"}
ADMIN = {"Authorization": "Bearer admin-key"}


def failed_job(job_id: str = "f" * 32) -> JobMessage:
    return JobMessage(
        id=job_id, task="demo.noop", args={"n": 7}, lane="main", cluster="default", priority=3,
        tier="TINY", max_execution_time=30, max_retries=2, attempt=3, idempotency_key="order-7",
    )  # fmt: skip


async def test_dead_letters_are_listed_newest_first_paged_and_filtered(
    settings: Settings, db: Database, bus: Bus
) -> None:
    made = []
    for i in range(7):
        source = "runner" if i % 2 else "dispatcher"
        made.append(await dead_letters.record(db, source=source, reason=f"r{i}", body=b'{"i": %d}' % i))
    async with api(settings, db, bus, api_keys=KEYS) as (client, _):
        seen, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/dead-letters", params=params, headers=READ)).json()
            assert len(page["items"]) <= 3
            seen += page["items"]
            cursor = page["next"]
            if cursor is None:
                break
        assert [d["id"] for d in seen] == [d["_id"] for d in await dead_letters.recent(db)]
        assert {d["id"] for d in seen} == set(made)
        item = seen[0]
        assert set(item) == {"id", "job_id", "source", "reason", "recorded_at", "replayed", "replay_job_id"}
        assert item["replayed"] is False and item["recorded_at"].endswith("Z")

        runner = (await client.get("/v1/dead-letters", params={"source": "runner"}, headers=READ)).json()
        assert [d["reason"] for d in runner["items"]] == ["r5", "r3", "r1"]
        skipped = await client.get("/v1/dead-letters", params={"skip": 5}, headers=READ)
        assert [d["id"] for d in skipped.json()["items"]] == [d["id"] for d in seen[5:]]

        one = (await client.get(f"/v1/dead-letters/{made[4]}", headers=READ)).json()
        assert one["body"] == {"i": 4} and one["reason"] == "r4" and one["body_truncated"] is False
        assert (await client.get("/v1/dead-letters/nope", headers=READ)).status_code == 404
        bad = await client.get("/v1/dead-letters", params={"cursor": "zzz"}, headers=READ)
        assert bad.status_code == 422 and "cursor" in bad.json()["detail"]
        assert (await client.get("/v1/dead-letters")).status_code == 401


async def test_a_replay_admits_one_new_job_however_often_it_is_asked(
    settings: Settings, db: Database, bus: Bus
) -> None:
    old = failed_job()
    dead_id = await dead_letters.record(
        db,
        source="runner",
        reason="failed on its last attempt",
        body=old.model_dump_json().encode(),
        job_id=old.id,
    )
    async with api(settings, db, bus, api_keys=KEYS) as (client, _):
        url = f"/v1/dead-letters/{dead_id}/replay"
        assert (await client.post(url, headers=READ)).status_code == 403
        first = await client.post(url, headers=ADMIN)
        assert first.status_code == 200, first.text
        new_id = first.json()["job_id"]
        assert first.json() == {"id": dead_id, "job_id": new_id, "duplicate": False}
        assert new_id != old.id
        again = await client.post(url, headers=ADMIN)
        assert again.status_code == 200 and again.json() == {
            "id": dead_id,
            "job_id": new_id,
            "duplicate": True,
        }

        job = await jobs.get(db, new_id)
        assert job is not None and job["state"] == "IN_QUEUE" and job["attempt"] == 1
        assert (job["task"], job["args"], job["priority"], job["max_retries"]) == (
            "demo.noop",
            {"n": 7},
            3,
            2,
        )
        assert job["replay_of"] == dead_id and job["idempotency_key"] is None
        view = (await client.get(f"/v1/dead-letters/{dead_id}", headers=READ)).json()
        assert view["replayed"] is True and view["replay_job_id"] == new_id and view["replayed_at"]

        # Two operators at once: still one job.
        other = await dead_letters.record(db, source="runner", reason="x", body=failed_job("e" * 32)
                                          .model_dump_json().encode())  # fmt: skip
        replies = await asyncio.gather(
            *(client.post(f"/v1/dead-letters/{other}/replay", headers=ADMIN) for _ in range(6))
        )
        assert {r.status_code for r in replies} == {200}
        assert len({r.json()["job_id"] for r in replies}) == 1
        assert sum(not r.json()["duplicate"] for r in replies) == 1
    assert await message_count(settings, bus.names.lane_queue("main", "default")) == 2


async def test_a_dead_letter_that_is_no_submission_is_refused_with_the_reason(
    settings: Settings, db: Database, bus: Bus
) -> None:
    not_json = await dead_letters.record(db, source="admission", reason="r", body=b"{not json")
    bad_priority = await dead_letters.record(
        db, source="admission", reason="r", body=b'{"task": "t", "priority": 42}'
    )
    too_big = await dead_letters.record(
        db, source="admission", reason="r", body=b'{"task": "t"}' + b" " * 70_000
    )
    unknown = await dead_letters.record(
        db, source="admission", reason="r", body=b'{"task": "t", "cluster": "nowhere"}'
    )
    async with api(settings, db, bus) as (client, _):
        reply = await client.post(f"/v1/dead-letters/{not_json}/replay")
        assert reply.status_code == 422 and "not JSON" in reply.json()["detail"]
        reply = await client.post(f"/v1/dead-letters/{bad_priority}/replay")
        assert reply.status_code == 422 and "priority" in reply.json()["detail"]
        reply = await client.post(f"/v1/dead-letters/{too_big}/replay")
        assert reply.status_code == 422 and "64 KiB" in reply.json()["detail"]
        reply = await client.post(f"/v1/dead-letters/{unknown}/replay")
        assert reply.status_code == 404 and "nowhere" in reply.json()["detail"]
        # Refused replays leave the dead letter replayable.
        view = (await client.get(f"/v1/dead-letters/{unknown}")).json()
        assert view["replayed"] is False and view["body"] == {"task": "t", "cluster": "nowhere"}
        assert (await client.post("/v1/dead-letters/nope/replay")).status_code == 404
    assert await db["jobs"].count_documents({}) == 0


async def test_invalid_amqp_submissions_are_listed_with_source_admission(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, admitter):
        await AmqpIngress(bus, db, admitter).start()
        connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(bus.names.submit_exchange)
            for body in (
                b"{not json",
                b'{"task": "demo.noop", "priority": 42}',
                b'{"task": "demo.noop", "lane": "x.y"}',
            ):
                await exchange.publish(aio_pika.Message(body), "")
        finally:
            await connection.close()
        deadline = time.monotonic() + 15
        items: list[dict[str, object]] = []
        while time.monotonic() < deadline and len(items) < 3:
            items = (await client.get("/v1/dead-letters", params={"source": "admission"})).json()["items"]
            await asyncio.sleep(0.1)
        reasons = sorted(str(i["reason"]) for i in items)
        assert len(reasons) == 3 and all(i["source"] == "admission" for i in items)
        assert "body is not JSON" in reasons[0]
        assert any("priority" in r for r in reasons) and any("lane" in r for r in reasons)
        detail = (await client.get(f"/v1/dead-letters/{items[-1]['id']}")).json()
        assert detail["body"] == "{not json"
        assert (await client.post(f"/v1/dead-letters/{items[-1]['id']}/replay")).status_code == 422
