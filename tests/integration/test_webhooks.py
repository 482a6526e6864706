"""Completion webhooks against RabbitMQ, nx-27017 and a receiver on 127.0.0.1 that the test starts
(allowed in these tests' settings): a job's end makes a signed delivery, a 500 is retried under
the same delivery id, a crash between a job's end and its deliveries is swept up, and addresses
Laneyard must not call are refused."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import pytest

from laneyard.services.dispatcher.webhook_post import client as webhook_client
from laneyard.services.dispatcher.webhook_sender import WebhookSender
from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import webhooks
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites
from laneyard.shared.webhooks import signing
from laneyard.shared.webhooks.config import WebhookConfig
from tests.support.admission import api
from tests.support.webhook_receiver import receiver

SECRET = "whsec-test"


@pytest.fixture
def hooked(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "webhook_secret": f"{SECRET},old-secret",
            "webhook_allow": "127.0.0.1",
            "webhook_backoff_base": 0.05,
            "webhook_backoff_cap": 0.1,
            "webhook_timeout": 5.0,
        }
    )


def message(job_id: str, callback_url: str | None, lane: str = "main") -> JobMessage:
    return JobMessage(
        id=job_id, task="demo.echo", args={}, lane=lane, cluster="default", priority=5, tier="TINY",
        max_execution_time=10, callback_url=callback_url,
    )  # fmt: skip


async def run_to_end(db: Database, job: JobMessage, result: Any = None) -> None:
    writes = JobWrites(db)
    assert await lifecycle.record(writes, job)
    assert await lifecycle.mark_waiting(writes, job)
    assert await lifecycle.start(writes, job, "r1")
    assert await lifecycle.finish(db, writes, job, 1, "r1", JobState.COMPLETED, {"result": result})


async def deliver_all(sender: WebhookSender, db: Database, job_id: str) -> list[dict[str, Any]]:
    """Ticks the sender until the job has no pending delivery."""
    async with webhook_client(sender.config) as http, asyncio.timeout(20):
        while True:
            await sender.tick(http)
            found = await webhooks.of_job(db, job_id)
            if found and all(d["state"] != webhooks.PENDING for d in found):
                return found
            await asyncio.sleep(0.05)


async def test_a_job_end_is_posted_signed_and_recorded(hooked: Settings, db: Database, bus: Bus) -> None:
    sender = WebhookSender(db, hooked, lambda: True)
    async with receiver() as got:
        await run_to_end(db, message("job-signed", got.url), result={"answer": 42})
        (delivery,) = await deliver_all(sender, db, "job-signed")
        (request,) = got.requests
    assert request.method == "POST" and request.path == "/hook"
    assert request.headers["laneyard-delivery"] == delivery["_id"]
    assert request.headers["host"] == f"127.0.0.1:{got.port}"
    assert signing.verify(SECRET, request.headers["laneyard-signature"], request.body, now=time.time())
    assert signing.verify("old-secret", request.headers["laneyard-signature"], request.body, now=time.time())
    assert not signing.verify(SECRET, request.headers["laneyard-signature"], request.body + b" ", time.time())
    body = json.loads(request.body)
    assert body["id"] == "job-signed" and body["state"] == "COMPLETED" and body["result"] == {"answer": 42}
    assert body["delivery_id"] == delivery["_id"] and body["timings"]["ended_at"]
    assert delivery["state"] == "delivered" and delivery["attempts"][0]["status"] == 200
    assert (await db["jobs"].find_one({"_id": "job-signed"}) or {}).get("webhook_due") is None

    async with api(hooked, db, bus) as (client, _):
        shown = (await client.get("/v1/jobs/job-signed/webhooks")).json()["deliveries"]
    assert [(d["id"], d["state"], d["attempts_made"]) for d in shown] == [(delivery["_id"], "delivered", 1)]
    assert shown[0]["attempts"][0]["status"] == 200


async def test_a_500_is_retried_with_the_same_delivery_id(hooked: Settings, db: Database) -> None:
    sender = WebhookSender(db, hooked, lambda: True)
    async with receiver(fail=2) as got:
        await run_to_end(db, message("job-retried", got.url))
        (delivery,) = await deliver_all(sender, db, "job-retried")
    assert [r.headers["laneyard-delivery"] for r in got.requests] == [delivery["_id"]] * 3
    assert [r.headers["laneyard-attempt"] for r in got.requests] == ["1", "2", "3"]
    assert len({r.body for r in got.requests}) == 1  # the same bytes on every attempt
    assert [a["status"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["state"] == "delivered" and delivery["attempts"][0]["error"] == "HTTP 500"


async def test_deliveries_a_crash_kept_from_being_created_are_swept_up(
    hooked: Settings, db: Database
) -> None:
    async with receiver() as got:
        await run_to_end(db, message("job-crashed", got.url))
        (made,) = await webhooks.of_job(db, "job-crashed")
        # What a process that died right after the job-ending write leaves: the mark, no delivery.
        await db[webhooks.DELIVERIES].delete_many({"job_id": "job-crashed"})
        await db["jobs"].update_one({"_id": "job-crashed"}, {"$set": {webhooks.DUE_MARK: True}})
        (delivery,) = await deliver_all(WebhookSender(db, hooked, lambda: True), db, "job-crashed")
    assert delivery["_id"] == made["_id"] and delivery["state"] == "delivered"
    assert [r.headers["laneyard-delivery"] for r in got.requests] == [made["_id"]]


async def test_lane_subscriptions_deliver_the_ends_they_ask_for(
    hooked: Settings, db: Database, bus: Bus
) -> None:
    async with receiver() as got, api(hooked, db, bus) as (client, _):
        made = await client.post(
            "/v1/webhooks", json={"url": got.url, "lane": "reports", "events": ["COMPLETED"]}
        )
        assert made.status_code == 201, made.text
        listed = (await client.get("/v1/webhooks")).json()["webhooks"]
        assert [w["id"] for w in listed] == [made.json()["id"]]
        bad = await client.post("/v1/webhooks", json={"url": got.url, "events": ["RUNNING"]})
        assert bad.status_code == 422 and "end states" in bad.json()["detail"]

        await run_to_end(db, message("job-subscribed", None, lane="reports"))
        await run_to_end(db, message("job-elsewhere", None, lane="main"))
        (delivery,) = await deliver_all(WebhookSender(db, hooked, lambda: True), db, "job-subscribed")
        assert delivery["source"] == f"subscription:{made.json()['id']}"
        assert await webhooks.of_job(db, "job-elsewhere") == []
        assert json.loads(got.requests[0].body)["id"] == "job-subscribed"

        assert (await client.delete(f"/v1/webhooks/{made.json()['id']}")).status_code == 204
        assert (await client.get(f"/v1/webhooks/{made.json()['id']}")).status_code == 404


async def test_private_addresses_are_refused(hooked: Settings, db: Database, bus: Bus) -> None:
    async with api(hooked, db, bus) as (client, _):
        base = {"task": "demo.noop", "tier": "TINY"}
        private = await client.post("/v1/jobs", json={**base, "callback_url": "http://10.0.0.1/hook"})
        assert private.status_code == 422 and "private address" in private.json()["detail"]
        metadata = await client.post("/v1/jobs", json={**base, "callback_url": "http://169.254.169.254/x"})
        assert metadata.status_code == 422 and "link-local" in metadata.json()["detail"]
        scheme = await client.post("/v1/webhooks", json={"url": "file:///etc/passwd"})
        assert scheme.status_code == 422 and "http" in scheme.json()["detail"]

    # A name is checked by what it resolves to, when sending: localhost is not on the allow-list.
    async with receiver() as got:
        await run_to_end(db, message("job-localhost", f"http://localhost:{got.port}/hook"))
        (delivery,) = await deliver_all(WebhookSender(db, hooked, lambda: True), db, "job-localhost")
    assert got.requests == []
    assert delivery["state"] == "refused" and "loopback" in delivery["last_error"]
    assert delivery["attempts"][0]["status"] is None


async def test_without_a_secret_callbacks_are_refused(settings: Settings, db: Database, bus: Bus) -> None:
    assert not WebhookConfig.of(settings).enabled
    async with api(settings, db, bus) as (client, _):
        refused = await client.post(
            "/v1/jobs", json={"task": "demo.noop", "callback_url": "https://hooks.example.com/x"}
        )
        assert refused.status_code == 422 and "not configured" in refused.json()["detail"]
        assert (
            await client.post("/v1/webhooks", json={"url": "https://hooks.example.com/"})
        ).status_code == 422


async def test_a_redirect_is_not_followed(hooked: Settings, db: Database) -> None:
    async def redirect(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://169.254.169.254/"})

    sender = WebhookSender(db, hooked.model_copy(update={"webhook_give_up_seconds": 0.01}), lambda: True)
    await run_to_end(db, message("job-redirected", "http://127.0.0.1:9/hook"))
    async with httpx.AsyncClient(transport=httpx.MockTransport(redirect), follow_redirects=False) as http:
        await sender.tick(http)
    (delivery,) = await webhooks.of_job(db, "job-redirected")
    assert delivery["state"] == "failed" and "redirects are not followed" in delivery["last_error"]
