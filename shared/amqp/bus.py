"""One AMQP connection per service: a confirming publish channel plus the job-routing publishes.

Every publish waits for the broker's confirm (bounded by ``network_timeout``): a job is only
acknowledged upstream once the broker has taken responsibility for its next hop.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractRobustConnection, ExchangeType
from pamqp.commands import Basic

from laneyard.shared.amqp.topology import Names, Topology, delay_ladder, persistent, pick_delay
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings

log = logging.getLogger(__name__)


class Unroutable(RuntimeError):
    """The broker did not confirm a publish."""


class Bus:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.names = Names(settings.prefix)
        self.ladder = delay_ladder(settings.delay_min_ms, settings.delay_max_ms)
        self._connection: AbstractRobustConnection | None = None
        self._topology: Topology | None = None
        self._channels: list[AbstractChannel] = []

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise RuntimeError("Bus.connect() was not awaited")
        return self._connection

    @property
    def topology(self) -> Topology:
        if self._topology is None:
            raise RuntimeError("Bus.connect() was not awaited")
        return self._topology

    async def connect(self) -> None:
        timeout = self.settings.network_timeout
        self._connection = await asyncio.wait_for(
            aio_pika.connect_robust(self.settings.amqp_url, timeout=timeout), timeout
        )
        channel = await self._connection.channel(publisher_confirms=True)
        self._channels.append(channel)
        self._topology = Topology(channel, self.names, self.ladder, self.settings.network_timeout)
        await asyncio.wait_for(self._topology.declare_core(), timeout)

    async def consumer_channel(self, prefetch: int) -> tuple[AbstractChannel, Topology]:
        """A channel of its own for consuming, so a slow consumer never stalls publishing."""
        channel = await self.connection.channel()
        self._channels.append(channel)
        await channel.set_qos(prefetch_count=prefetch)
        return channel, Topology(channel, self.names, self.ladder, self.settings.network_timeout)

    def broken(self) -> bool:
        """Whether the connection or a channel this bus opened is closed. Normal while the robust
        connection reconnects (seconds); for good when aio-pika could not restore a channel."""
        conn = self._connection
        return conn is None or conn.is_closed or any(ch.is_closed for ch in self._channels)

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    async def publish(
        self,
        exchange_name: str,
        kind: ExchangeType,
        body: bytes,
        routing_key: str = "",
        *,
        headers: dict[str, Any] | None = None,
        priority: int | None = None,
        message_id: str | None = None,
        transient: bool = False,
    ) -> None:
        exchange = await self.topology.exchange(exchange_name, kind)
        if transient:
            message = aio_pika.Message(body, content_type="application/json", headers=headers or {})
        else:
            message = persistent(body, headers=headers or {}, priority=priority, message_id=message_id)
        timeout = self.settings.network_timeout
        # wait_for as well: the robust exchange first waits, unbounded, for a lost connection to return.
        confirm = await asyncio.wait_for(
            exchange.publish(message, routing_key, mandatory=not transient, timeout=timeout), timeout
        )
        if not isinstance(confirm, Basic.Ack):
            # aio-pika hands back an unroutable message (Basic.Return) or a nack instead of raising;
            # treating either as success would drop a job silently.
            raise Unroutable(f"{exchange_name!r} did not take the message for {routing_key!r}: {confirm!r}")

    async def to_lane(self, job: JobMessage, headers: dict[str, Any] | None = None) -> None:
        await self.topology.lane_queue(job.lane, job.cluster)
        await self.publish(
            self.names.lanes_exchange,
            ExchangeType.DIRECT,
            job.model_dump_json().encode(),
            self.names.lane_key(job.lane, job.cluster),
            headers=headers,
            priority=job.priority,
            message_id=job.id,
        )

    async def to_cluster(self, job: JobMessage, headers: dict[str, Any] | None = None) -> None:
        await self.topology.cluster_queue(job.cluster)
        await self.publish(
            self.names.clusters_exchange,
            ExchangeType.DIRECT,
            job.model_dump_json().encode(),
            job.cluster,
            headers=headers,
            priority=job.priority,
            message_id=job.id,
        )

    async def delayed(self, job: JobMessage, wanted_ms: float, headers: dict[str, Any] | None = None) -> int:
        """Send the job back to its lane after about ``wanted_ms``; returns the delay step used."""
        step = pick_delay(self.ladder, wanted_ms)
        await self.topology.lane_queue(job.lane, job.cluster)
        await self.publish(
            self.names.delay_exchange,
            ExchangeType.HEADERS,
            job.model_dump_json().encode(),
            self.names.lane_key(job.lane, job.cluster),
            headers={**(headers or {}), "delay-ms": step},
            priority=job.priority,
            message_id=job.id,
        )
        return step

    async def dead_letter(self, body: bytes, reason: str, headers: dict[str, Any] | None = None) -> None:
        await self.publish(
            self.names.dead_exchange,
            ExchangeType.FANOUT,
            body,
            headers={**(headers or {}), "x-laneyard-reason": reason[:1000]},
        )
