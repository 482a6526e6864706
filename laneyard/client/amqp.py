"""``AmqpSubmitter``: submitting jobs by publishing to RabbitMQ, for services that already speak AMQP.

Each job is a persistent message on the ``<prefix>.submit`` exchange, published with confirms and
``mandatory``: ``submit`` returns once the broker has the message in the submit queue, and raises
when the broker refuses it. Admission reads that queue, validates each job and admits it as it would
over HTTP; a job it refuses is dead-lettered with the reason stored (see ``Client.dead_letters``).
The job id travels as the AMQP ``message_id``, so publishing the same id again is the same job.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractRobustConnection
from aio_pika.exceptions import AMQPError, DeliveryError
from pydantic import ValidationError
from typing_extensions import Unpack

from laneyard.client.calls import SubmitOptions, submission
from laneyard.errors import Refused, Unavailable
from laneyard.shared.admitting.refusal import invalid_reason
from laneyard.shared.ids import JOB_ID, new_job_id
from laneyard.shared.models import Submission

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"


class AmqpSubmitter:
    """``url`` defaults to ``LANEYARD_AMQP_URL``, ``prefix`` to ``LANEYARD_PREFIX`` (``laneyard``)."""

    def __init__(self, url: str | None = None, *, prefix: str | None = None, timeout: float = 10.0) -> None:
        self.url = url or os.environ.get("LANEYARD_AMQP_URL") or DEFAULT_AMQP_URL
        self.prefix = prefix or os.environ.get("LANEYARD_PREFIX") or "laneyard"
        self.timeout = timeout
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractChannel | None = None
        self._exchange: AbstractExchange | None = None

    async def connect(self) -> None:
        try:
            self._connection = await aio_pika.connect_robust(self.url, timeout=self.timeout)
            self._channel = await asyncio.wait_for(
                self._connection.channel(publisher_confirms=True), self.timeout
            )
            # Passive: the exchange is admission's to declare; a missing one is a clear error here.
            self._exchange = await asyncio.wait_for(
                self._channel.get_exchange(f"{self.prefix}.submit", ensure=True), self.timeout
            )
        except (AMQPError, OSError, TimeoutError) as exc:
            await self.close()
            raise Unavailable(f"cannot reach {self.prefix}.submit on the broker: {exc!r}") from exc

    async def close(self) -> None:
        if self._connection is not None:
            await self._connection.close()
        self._connection = self._channel = self._exchange = None

    async def __aenter__(self) -> AmqpSubmitter:
        await self.connect()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def submit(
        self,
        task: str,
        args: Mapping[str, Any] | None = None,
        *,
        job_id: str | None = None,
        **options: Unpack[SubmitOptions],
    ) -> str:
        """Publishes one job and returns its id once the broker has confirmed it. ``Refused`` for a
        job admission would refuse as invalid, or that the broker would not route."""
        if self._exchange is None:
            raise RuntimeError("call connect() first, or use `async with AmqpSubmitter() as submitter`")
        job_id = job_id or new_job_id()
        if not JOB_ID.match(job_id):
            raise Refused("a job id is 8-64 characters of A-Z, a-z, 0-9, _ and -", 422)
        # The message id already makes a re-publish the same job: no idempotency key is made up.
        body = submission(task, args, {"idempotency_key": "", **options})
        if not body["idempotency_key"]:
            del body["idempotency_key"]
        try:
            validated = Submission.model_validate(body)
        except ValidationError as exc:
            raise Refused(invalid_reason(exc), 422) from exc
        message = aio_pika.Message(
            validated.model_dump_json(exclude_none=True).encode(),
            content_type="application/json",
            delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
            message_id=job_id,
        )
        try:
            await asyncio.wait_for(
                self._exchange.publish(message, routing_key="", mandatory=True), self.timeout
            )
        except DeliveryError as exc:
            # Returned unroutable (no submit queue: admission never ran on this broker) or nacked.
            raise Unavailable(f"the broker did not take job {job_id}: {exc!r}") from exc
        except (AMQPError, OSError, TimeoutError) as exc:
            raise Unavailable(f"publishing job {job_id} failed: {exc!r}") from exc
        return job_id
