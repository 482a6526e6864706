"""Every service under a broker user of its own with only the permissions docs/security.md lists
(shared/amqp/permissions.py): the whole flow works, and a runner's credentials can neither
submit jobs past admission nor read another cluster's queue."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aio_pika
import httpx
import pytest
from aio_pika.abc import AbstractIncomingMessage, ExchangeType

from laneyard.shared.amqp import permissions
from laneyard.shared.amqp.topology import Names
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.throttling import intake
from tests.support.broker import delete_queues, delete_topology
from tests.support.broker_users import access_refused, broker_users
from tests.support.jobs import submit
from tests.support.stack import Stack
from tests.support.waiting import wait_state, wait_terminal

pytestmark = pytest.mark.e2e

TASKS = "tests.e2e.tasks,tests.e2e.privilege_tasks"
OTHER_CLUSTER = "defaultx"  # a name that starts like the runner's own cluster


async def check_runner_is_fenced(settings: Settings, runner_url: str, dispatcher_url: str) -> None:
    names = Names(settings.prefix)
    # The other cluster's queue exists, with a job in it, as a runner of that cluster would find it.
    admin = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        channel = await admin.channel()
        other = await channel.declare_queue(
            names.cluster_queue(OTHER_CLUSTER), durable=True, arguments={"x-max-priority": 10}
        )
        await channel.default_exchange.publish(aio_pika.Message(b"{}"), other.name)
    finally:
        await admin.close()

    async def drop(message: AbstractIncomingMessage) -> None:
        raise AssertionError(f"the runner's user got a message of another cluster: {message!r}")

    connection = await aio_pika.connect(runner_url, timeout=settings.network_timeout)
    try:
        # Publishing a submission: with publisher confirms, the broker closes the channel.
        channel = await connection.channel(publisher_confirms=True)
        submit_exchange = await channel.get_exchange(names.submit_exchange)  # passive: allowed
        why = await access_refused(
            submit_exchange.publish(aio_pika.Message(b'{"task": "demo.echo"}'), "", timeout=10)
        )
        assert "ACCESS_REFUSED" in why and names.submit_exchange in why, why

        # Reading another cluster's queue, by consuming or by basic.get.
        channel = await connection.channel()
        queue = await channel.get_queue(names.cluster_queue(OTHER_CLUSTER))  # passive: allowed
        why = await access_refused(queue.consume(drop))
        assert "ACCESS_REFUSED" in why and names.cluster_queue(OTHER_CLUSTER) in why, why
        channel = await connection.channel()
        queue = await channel.get_queue(names.cluster_queue(OTHER_CLUSTER))
        why = await access_refused(queue.get(timeout=10))
        assert "ACCESS_REFUSED" in why, why

        # Nor can it route jobs to itself: binding a queue of its own to the clusters exchange...
        channel = await connection.channel()
        mine = await channel.declare_queue(names.listener_queue(uuid.uuid4().hex), exclusive=True)  # allowed
        clusters = await channel.get_exchange(names.clusters_exchange)
        why = await access_refused(mine.bind(clusters, OTHER_CLUSTER))
        assert "ACCESS_REFUSED" in why, why
        # ...nor change what others use: re-declaring (or so deleting) a shared exchange.
        channel = await connection.channel()
        why = await access_refused(
            channel.declare_exchange(names.lanes_exchange, ExchangeType.DIRECT, durable=True)
        )
        assert "ACCESS_REFUSED" in why, why
    finally:
        await connection.close()

    # And the dispatcher, which reads lanes, cannot read submissions.
    connection = await aio_pika.connect(dispatcher_url, timeout=settings.network_timeout)
    try:
        channel = await connection.channel()
        queue = await channel.get_queue(names.submit_queue)
        why = await access_refused(queue.get(timeout=10))
        assert "ACCESS_REFUSED" in why, why
    finally:
        await connection.close()


async def test_every_service_runs_under_its_own_restricted_user(
    settings: Settings, tmp_path: Path, db: Database
) -> None:
    p = settings.prefix
    wanted = {
        "admission": permissions.admission(p),
        "dispatcher": permissions.dispatcher(p),
        "runner": permissions.runner(p, "default"),
        "submitter": permissions.submitter(p),
    }
    new_lane, slow_lane = f"fresh{uuid.uuid4().hex[:6]}", "slow"
    try:
        with broker_users(settings, wanted) as urls:
            stack = Stack(settings, tmp_path, env_extra={"LANEYARD_RUNNER_TASKS": TASKS})
            try:
                await run_the_flow(stack, urls, db, new_lane, slow_lane)
                await check_runner_is_fenced(settings, urls["runner"], urls["dispatcher"])
                # No service met a refusal of its own: all still run, none logged one.
                for service in stack.services:
                    assert service.proc is not None and service.proc.poll() is None, stack.tail(service)
                    log = service.log_path.read_text(errors="replace")
                    assert "ACCESS_REFUSED" not in log, stack.tail(service)
            finally:
                stack.stop()
    finally:
        names = Names(p)
        await delete_topology(settings, lanes=((new_lane, "default"), (slow_lane, "default")))
        await delete_queues(
            settings,
            names.cluster_queue(OTHER_CLUSTER),
            intake.queue_name(names, slow_lane, "default"),
            exchanges=(intake.exchange_name(names),),
        )


async def run_the_flow(
    stack: Stack, urls: dict[str, str], db: Database, new_lane: str, slow_lane: str
) -> None:
    settings = stack.settings
    # The runner first: it waits for the dispatcher to declare what it uses.
    runner = stack.add("runner", "--slots", "4", LANEYARD_AMQP_URL=urls["runner"])
    stack.add("dispatcher", LANEYARD_AMQP_URL=urls["dispatcher"])
    stack.add("admission", LANEYARD_AMQP_URL=urls["admission"])
    await asyncio.to_thread(stack.wait_ready)
    await asyncio.to_thread(stack.wait_logged, runner, "runner started")

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        made = await client.post(
            "/v1/schedules", json={"name": "tick", "task": "demo.echo", "tier": "TINY", "every": 1}
        )
        assert made.status_code == 201, made.text
        schedule = made.json()["id"]
        reply = await client.put(f"/v1/throttles/lanes/{slow_lane}", json={"rate": 20})
        assert reply.status_code == 200, reply.text
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        ids = {
            "echo": await submit(client, {"task": "demo.echo", "args": {"x": 1}, "tier": "TINY"}),
            # Fails twice: re-queued through a delay queue by the runner, then dead-lettered.
            "fail": await submit(
                client, {"task": "demo.fail", "max_retries": 1, "retry_backoff": 0.2, "tier": "TINY"}
            ),
            # Held back by the dispatcher, through the delay queues, until its start time.
            "later": await submit(client, {"task": "demo.echo", "start_at": soon, "tier": "TINY"}),
            # Through admission's intake queue and mover.
            "slow": await submit(client, {"task": "demo.echo", "lane": slow_lane, "tier": "TINY"}),
            # A sub-task into a lane nobody has used: a dispatcher declares its queue.
            "parent": await submit(client, {"task": "lp.spawn", "args": {"lane": new_lane}, "tier": "TINY"}),
            "sleep": await submit(client, {"task": "demo.sleep", "args": {"seconds": 60}, "tier": "TINY"}),
        }

        # Cancelling a running job: admission's control message reaches the runner.
        await wait_state(db, ids["sleep"], "RUNNING", within=30)
        reply = await client.post(f"/v1/jobs/{ids['sleep']}/cancel")
        assert reply.status_code == 202, reply.text

        # Submissions over AMQP, by an application with the submitter's user.
        amqp_id = uuid.uuid4().hex
        connection = await aio_pika.connect(urls["submitter"], timeout=settings.network_timeout)
        try:
            channel = await connection.channel(publisher_confirms=True)
            exchange = await channel.get_exchange(f"{settings.prefix}.submit")
            body = json.dumps({"task": "demo.echo", "tier": "TINY"}).encode()
            await exchange.publish(aio_pika.Message(body, message_id=amqp_id), "", timeout=10)
            await exchange.publish(aio_pika.Message(b"{not json"), "", timeout=10)
        finally:
            await connection.close()

        docs = await wait_terminal(db, {*ids.values(), amqp_id}, within=60)
        states = {name: docs[job_id]["state"] for name, job_id in ids.items() if job_id in docs}
        assert states == {
            "echo": "COMPLETED", "fail": "ERROR", "later": "COMPLETED", "slow": "COMPLETED",
            "parent": "COMPLETED", "sleep": "CANCELLED",
        }, states  # fmt: skip
        assert docs[amqp_id]["state"] == "COMPLETED"
        assert docs[ids["fail"]]["attempt"] == 2
        child = await db["jobs"].find_one({"_id": docs[ids["parent"]]["result"]["child"]})
        assert child is not None and child["lane"] == new_lane and child["state"] == "COMPLETED", child
        dead = {d["source"] async for d in db["dead_letters"].find({}, {"source": 1})}
        assert dead == {"runner", "admission"}, dead

        # The schedule (every second) fired, through the dispatcher, and its jobs ran.
        for _ in range(150):
            if await db["jobs"].find_one({"schedule_id": schedule, "state": "COMPLETED"}) is not None:
                break
            await asyncio.sleep(0.2)
        fired = await db["jobs"].find({"schedule_id": schedule}, {"state": 1}).to_list()
        assert any(j["state"] == "COMPLETED" for j in fired), fired
        assert (await client.delete(f"/v1/schedules/{schedule}")).status_code == 204
