"""The broker as tests see it: counting messages, and removing what a test declared."""

from __future__ import annotations

import asyncio
import json
import os

import aio_pika

from laneyard.shared.amqp.topology import Names, delay_ladder
from laneyard.shared.settings import Settings


async def message_count(settings: Settings, queue: str) -> int | None:
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        result = declared.declaration_result
        return int(result.message_count or 0) if result is not None else None
    finally:
        await connection.close()


async def delete_queues(settings: Settings, *names: str, exchanges: tuple[str, ...] = ()) -> None:
    """The queues a test made beyond those ``delete_topology`` knows about."""
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        for name in names:
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
        for name in exchanges:
            channel = await connection.channel()
            try:
                await channel.exchange_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
    finally:
        await connection.close()


async def delete_topology(settings: Settings, lanes: tuple[tuple[str, str], ...] = ()) -> None:
    """Removes this test's durable queues and exchanges so the broker does not fill up across runs."""
    names = Names(settings.prefix)
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        queues = [names.submit_queue, names.dead_queue, names.cluster_queue("default")]
        queues += [names.delay_queue(ms) for ms in delay_ladder(settings.delay_min_ms, settings.delay_max_ms)]
        queues += [
            names.lane_queue(lane, cluster) for lane in ("main", "logs", "other") for cluster in ("default",)
        ]
        queues += [names.lane_queue(lane, cluster) for lane, cluster in lanes]
        exchanges = [
            names.submit_exchange, names.lanes_exchange, names.clusters_exchange, names.delay_exchange,
            names.dead_exchange, names.capacity_exchange, names.control_exchange,
        ]  # fmt: skip
        for name in queues:
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
        for name in exchanges:
            channel = await connection.channel()
            try:
                await channel.exchange_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
    finally:
        await connection.close()


async def unacked(settings: Settings, queue: str) -> tuple[int, int] | None:
    """(ready, unacknowledged) messages of a queue, as the broker counts them (``rabbitmqctl``: the
    AMQP protocol tells a client only the ready count)."""
    del settings  # the local broker's vhost "/" holds every test's queues
    proc = await asyncio.create_subprocess_exec(
        "rabbitmqctl", "list_queues", "-q", "--formatter", "json", "name", "messages_ready",
        "messages_unacknowledged", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        env={**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"},
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    for row in json.loads(out or b"[]"):
        if row.get("name") == queue:
            return int(row["messages_ready"]), int(row["messages_unacknowledged"])
    return None
