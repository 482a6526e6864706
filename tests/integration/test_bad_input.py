"""What the fuzzers found (tests/property), each refused with its reason instead of a 500 or a
message redelivered forever."""

from __future__ import annotations

import asyncio
import base64
import time

import aio_pika

from laneyard.services.admission.amqp_ingress import AmqpIngress
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.ids import new_job_id
from laneyard.shared.settings import Settings
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database
from tests.support.admission import api

HUGE_TIME_CURSOR = base64.urlsafe_b64encode(f"[{10**309}, 1]".encode()).decode().rstrip("=")


async def test_bodies_and_cursors_the_api_cannot_use_are_refused_with_a_reason(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        for body, says in [
            (b'{"task": "demo.noop", "args": {"n": 18446744073709551616}}', "64 bits"),
            (b'{"task": "demo.noop", "args": {"x": [NaN]}}', "JSON can carry"),
            (b'{"task": "demo.noop", "start_at": 0}', "ISO 8601"),
            (b'{"task": "demo.noop", "priority": true}', "expected a number"),
        ]:
            for path, content in (("/v1/jobs", body), ("/v1/jobs/batch", b'{"jobs": [%s]}' % body)):
                answer = await client.post(
                    path, content=content, headers={"content-type": "application/json"}
                )
                assert answer.status_code == 422 and says in answer.text, (path, body, answer.text)
        deep = b"[" * 100_000 + b"]" * 100_000
        answer = await client.post("/v1/jobs", content=deep, headers={"content-type": "application/json"})
        assert answer.status_code == 400 and answer.json()["detail"]
        for path in ("/v1/jobs", "/v1/dead-letters"):
            answer = await client.get(path, params={"cursor": HUGE_TIME_CURSOR})
            assert answer.status_code == 422 and "cursor" in answer.json()["detail"], answer.text
        answer = await client.put("/v1/throttles/lanes/main", json={"rate": False})
        assert answer.status_code == 422 and "expected a number" in answer.text
        assert "main" not in (await client.get("/v1/throttles")).json()["lanes"]
    assert await db["jobs"].count_documents({}) == 0


async def test_amqp_bodies_that_once_stuck_the_ingress_are_dead_lettered_and_it_carries_on(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, admitter):
        await AmqpIngress(bus, db, admitter).start()
        after = new_job_id()
        connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(bus.names.submit_exchange)
            for body in (
                b"[" * 100_000 + b"]" * 100_000,
                b'{"task": "demo.noop", "args": {"n": 18446744073709551616}}',
            ):
                await exchange.publish(aio_pika.Message(body), "")
            await exchange.publish(aio_pika.Message(b'{"task": "demo.noop"}', message_id=after), "")
        finally:
            await connection.close()
        deadline = time.monotonic() + 30
        items: list[dict[str, object]] = []
        while time.monotonic() < deadline and (len(items) < 2 or await jobs.get(db, after) is None):
            items = (await client.get("/v1/dead-letters", params={"source": "admission"})).json()["items"]
            await asyncio.sleep(0.1)
        reasons = sorted(str(i["reason"]) for i in items)
        assert len(reasons) == 2 and "64 bits" in reasons[1] and "nested too deep" in reasons[0], reasons
        assert await jobs.get(db, after) is not None
