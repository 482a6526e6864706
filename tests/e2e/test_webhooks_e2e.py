"""A webhook survives a SIGKILL of its sender: the dispatcher dies after the job ended and before
the POST, and the dispatcher that takes over delivers it, under the same delivery id."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from laneyard.shared.settings import Settings
from laneyard.shared.store import webhooks
from laneyard.shared.store.database import Database
from laneyard.shared.webhooks import signing
from tests.support.stack import Stack
from tests.support.waiting import wait_state
from tests.support.webhook_receiver import receiver

pytestmark = pytest.mark.e2e

SECRET = "whsec-e2e"


async def test_a_webhook_survives_a_sigkill_of_its_sender(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    hooked = settings.model_copy(
        update={"webhook_secret": SECRET, "webhook_allow": "127.0.0.1", "lease_seconds": 3.0,
                "webhook_poll_seconds": 0.2, "webhook_backoff_base": 0.2, "webhook_backoff_cap": 0.5}
    )  # fmt: skip
    stack = Stack(hooked, tmp_path)
    try:
        async with receiver() as got:
            stack.add("admission")
            doomed = stack.add("dispatcher", LANEYARD_FAULTS="webhook_before_post")
            stack.add("runner")
            await asyncio.to_thread(stack.wait_ready)
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
                reply = await client.post(
                    "/v1/jobs",
                    json={"task": "demo.echo", "args": {"n": 1}, "tier": "TINY", "callback_url": got.url},
                )
                assert reply.status_code == 202, reply.text
                job_id = reply.json()["id"]
                await wait_state(db, job_id, "COMPLETED", within=60)
                assert doomed.proc is not None
                code = await asyncio.to_thread(doomed.wait, 60)
                assert code == -signal.SIGKILL  # it died on the way to the POST
                assert got.requests == []
                (pending,) = await webhooks.of_job(db, job_id)
                assert pending["state"] == webhooks.PENDING

                stack.add("dispatcher", LANEYARD_FAULTS="")
                async with asyncio.timeout(60):
                    (request,) = await got.wait_for(1)
                assert request.headers["laneyard-delivery"] == pending["_id"]
                assert signing.verify(
                    SECRET, request.headers["laneyard-signature"], request.body, time.time()
                )
                assert json.loads(request.body)["id"] == job_id
                shown = (await client.get(f"/v1/jobs/{job_id}/webhooks")).json()["deliveries"]
                while shown[0]["state"] == "pending":  # recorded just after the receiver answered
                    await asyncio.sleep(0.1)
                    shown = (await client.get(f"/v1/jobs/{job_id}/webhooks")).json()["deliveries"]
                assert [(d["id"], d["state"]) for d in shown] == [(pending["_id"], "delivered")]
    finally:
        stack.stop()
