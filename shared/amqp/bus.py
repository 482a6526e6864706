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

from laneyard.shared.amqp import probe, roles
from laneyard.shared.amqp.connect_failure import BrokerUnreachable, explain
from laneyard.shared.amqp.roles import Part, Role
from laneyard.shared.amqp.topology import Names, Topology, delay_ladder, persistent, pick_delay
from laneyard.shared.fair_shards import shard_of
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings

log = logging.getLogger(__name__)

# How long a service that declares nothing waits at start for what others declare.
START_WAIT_SECONDS = 60.0


class Unroutable(RuntimeError):
    """The broker did not confirm a publish."""


class Bus:
    def __init__(self, settings: Settings, role: Role = Role.ADMISSION) -> None:
        """``role``: the service this bus serves, which decides what it declares (roles.py)."""
        self.settings = settings
        self.role = role
        self.declares = roles.declares(role)
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
        url = self.settings.amqp_url
        try:
            # TLS comes from the URL: amqps://, with ?cafile=, ?certfile=&keyfile= (docs/tls.md).
            self._connection = await asyncio.wait_for(aio_pika.connect_robust(url, timeout=timeout), timeout)
        except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as exc:
            raise BrokerUnreachable(explain(url, exc)) from exc
        channel = await asyncio.wait_for(self._connection.channel(publisher_confirms=True), timeout)
        self._channels.append(channel)
        self._topology = self._topology_of(channel)
        if self.declares:
            await asyncio.wait_for(self._topology.declare(roles.at_start(self.role)), timeout)
        else:
            exchanges, queues = self._topology.names_of(roles.at_start(self.role))
            await self.await_declared(
                exchanges, queues, declared_by="a dispatcher declares them as it starts"
            )

    async def await_declared(
        self, exchanges: list[str], queues: list[str], *, declared_by: str, within: float = START_WAIT_SECONDS
    ) -> None:
        """Waits until exchanges and queues that another service declares exist (probe.NotDeclared
        after ``within`` seconds)."""
        await probe.wait_declared(
            self.connection,
            exchanges,
            queues,
            bound=self.settings.network_timeout,
            within=within,
            declared_by=declared_by,
        )

    def _topology_of(self, channel: AbstractChannel) -> Topology:
        return Topology(channel, self.names, self.ladder, self.settings.network_timeout, self.declares)

    async def consumer_channel(self, prefetch: int) -> tuple[AbstractChannel, Topology]:
        """A channel of its own for consuming, so a slow consumer never stalls publishing."""
        timeout = self.settings.network_timeout
        channel = await asyncio.wait_for(self.connection.channel(), timeout)
        self._channels.append(channel)
        await asyncio.wait_for(channel.set_qos(prefetch_count=prefetch), timeout)
        return channel, self._topology_of(channel)

    def broken(self) -> bool:
        """Whether the connection or a channel this bus opened is closed. Normal while the robust
        connection reconnects (seconds); for good when aio-pika could not restore a channel."""
        conn = self._connection
        return conn is None or conn.is_closed or any(ch.is_closed for ch in self._channels)

    async def close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Bounded: a broker that stopped answering must not hold a service's shutdown.
            try:
                await asyncio.wait_for(connection.close(), self.settings.network_timeout)
            except (TimeoutError, aio_pika.exceptions.AMQPError, OSError) as exc:
                log.warning("closing the broker connection did not finish cleanly: %r", exc)

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

    def lane_route(self, job: JobMessage) -> str:
        """The routing key of the job's queue in its lane: a fairness shard's, or the lane's own."""
        if job.fairness_key is None:
            return self.names.lane_key(job.lane, job.cluster)
        shard = shard_of(job.fairness_key, self.settings.fairness_shards)
        return self.names.lane_shard_key(job.lane, job.cluster, shard)

    async def _ensure_lane_queue(self, job: JobMessage) -> None:
        if job.fairness_key is None:
            await self.topology.lane_queue(job.lane, job.cluster)
        else:
            shard = shard_of(job.fairness_key, self.settings.fairness_shards)
            await self.topology.lane_shard_queue(job.lane, job.cluster, shard)

    async def to_lane(self, job: JobMessage, headers: dict[str, Any] | None = None) -> None:
        await self._ensure_lane_queue(job)
        await self.publish(
            self.names.lanes_exchange,
            ExchangeType.DIRECT,
            job.model_dump_json().encode(),
            self.lane_route(job),
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
        if self.declares:
            await self.topology.declare((Part.DELAYS,))  # a no-op once declared (at start, for a dispatcher)
        await self._ensure_lane_queue(job)
        await self.publish(
            self.names.delay_exchange,
            ExchangeType.HEADERS,
            job.model_dump_json().encode(),
            self.lane_route(job),
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
