"""TLS to RabbitMQ (``amqps://``) and to MongoDB (``tls=true``), configured through the URLs alone.

The broker is a node of the tests' own with a TLS listener only; MongoDB is the tests' server behind
a TLS-terminating proxy. Both present a certificate from a throwaway CA (tests/support/tls.py).
"""

from __future__ import annotations

import asyncio

import pytest
from pymongo.errors import ServerSelectionTimeoutError

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.amqp.connect_failure import BrokerUnreachable
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database, connect
from tests.support.tls import Certificates
from tests.support.tls_broker import TlsBroker


def job(job_id: str = "tls-1", priority: int = 5) -> JobMessage:
    return JobMessage(id=job_id, task="demo.noop", args={"over": "tls"}, lane="main", cluster="default",
                      priority=priority, tier="TINY", max_execution_time=10)  # fmt: skip


async def test_the_bus_publishes_with_confirms_and_consumes_over_amqps(tls_bus: Bus) -> None:
    channel, topology = await tls_bus.consumer_channel(10)
    queue = await topology.lane_queue("main", "default")
    await tls_bus.to_lane(job("tls-1", 3))  # returns once the broker confirmed it
    await tls_bus.to_lane(job("tls-2", 9))
    got = []
    for _ in range(200):
        message = await queue.get(fail=False)
        if message is not None:
            got.append((JobMessage.model_validate_json(message.body).id, message.priority))
            await message.ack()
        if len(got) == 2:
            break
        await asyncio.sleep(0.02)
    assert got == [("tls-2", 9), ("tls-1", 3)]
    await channel.close()


async def test_a_client_certificate_named_in_the_url_is_presented(
    tls_settings: Settings, tls_amqp: TlsBroker, certificates: Certificates
) -> None:
    url = tls_amqp.url(certfile=str(certificates.client.cert), keyfile=str(certificates.client.key))
    bus = Bus(tls_settings.model_copy(update={"amqp_url": url}))
    await bus.connect()
    try:
        await bus.to_lane(job("tls-mutual"))
        subjects = await asyncio.to_thread(tls_amqp.connection_certificates)
    finally:
        await bus.close()
    assert any("CN=client" in subject for subject in subjects), subjects


async def test_the_store_writes_and_reads_a_job_over_tls(tls_db: Database, tls_settings: Settings) -> None:
    assert "tls=true" in tls_settings.mongo_url
    assert await jobs.insert(tls_db, job("tls-store"))
    moved = await jobs.transition(
        tls_db, "tls-store", sources={JobState.IN_QUEUE}, target=JobState.WAITING, attempt=1
    )
    assert moved is not None
    doc = await jobs.get(tls_db, "tls-store")
    assert doc is not None and doc["state"] == JobState.WAITING and doc["args"] == {"over": "tls"}


async def test_plain_amqp_to_the_tls_port_fails_at_once_and_says_to_use_amqps(
    tls_settings: Settings, tls_amqp: TlsBroker
) -> None:
    plain = f"amqp://{tls_amqp.user}:{tls_amqp.password}@127.0.0.1:{tls_amqp.port}/"
    bus = Bus(tls_settings.model_copy(update={"amqp_url": plain}))
    with pytest.raises(BrokerUnreachable, match="use an amqps:// URL") as failed:
        await bus.connect()
    assert tls_amqp.password not in str(failed.value)
    assert f"amqp://{tls_amqp.user}@127.0.0.1:{tls_amqp.port}/" in str(failed.value)


async def test_a_broker_certificate_from_another_ca_is_refused(
    tls_settings: Settings, tls_amqp: TlsBroker, certificates: Certificates
) -> None:
    wrong_ca = tls_amqp.url(cafile=str(certificates.stranger_ca))
    bus = Bus(tls_settings.model_copy(update={"amqp_url": wrong_ca}))
    with pytest.raises(BrokerUnreachable, match=r"CERTIFICATE_VERIFY_FAILED.*cafile"):
        await bus.connect()


async def test_plain_mongodb_to_the_tls_port_fails_instead_of_hanging(tls_settings: Settings) -> None:
    plain = tls_settings.mongo_url.split("?", 1)[0] + "?directConnection=true"
    client, db = connect(tls_settings.model_copy(update={"mongo_url": plain, "network_timeout": 1.0}))
    try:
        with pytest.raises(ServerSelectionTimeoutError, match="closed"):
            await db["jobs"].find_one({"_id": "anything"})
    finally:
        await client.close()
