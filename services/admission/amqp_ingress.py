"""Submissions over AMQP: JSON published to the ``<prefix>.submit`` exchange.

A message that cannot be admitted is dead-lettered with its reason recorded in MongoDB; it is never
dropped silently and never stops the consumer. Transient failures (broker or database away) leave
the message to be redelivered.
"""

from __future__ import annotations

import asyncio
import json
import logging

from aio_pika.abc import AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.admitting.refusal import NotAdmitted, invalid_reason
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.ids import JOB_ID
from laneyard.shared.metrics import admission as admission_metrics
from laneyard.shared.models import Submission
from laneyard.shared.store import dead_letters
from laneyard.shared.store.database import Database

log = logging.getLogger(__name__)


def read_submission(body: bytes) -> Submission | str:
    """The submission a message body holds, or why it holds none (whatever the bytes)."""
    try:
        return Submission.model_validate(json.loads(body))
    except ValidationError as exc:
        return invalid_reason(exc)
    except RecursionError:
        return "body is not JSON this API reads: nested too deep"
    except ValueError as exc:  # not JSON, or not UTF-8 (nor UTF-16 or UTF-32)
        return f"body is not JSON: {exc}"


class AmqpIngress:
    def __init__(self, bus: Bus, db: Database, admitter: Admitter, prefetch: int = 64) -> None:
        self.bus = bus
        self.db = db
        self.admitter = admitter
        self.prefetch = prefetch
        self._queue: AbstractQueue | None = None

    async def start(self) -> None:
        channel, _ = await self.bus.consumer_channel(self.prefetch)
        self._queue = await channel.declare_queue(
            self.bus.names.submit_queue,
            durable=True,
            arguments={"x-dead-letter-exchange": self.bus.names.dead_exchange},
        )
        await self._queue.consume(self.on_message)

    async def on_message(self, message: AbstractIncomingMessage) -> None:
        read = read_submission(message.body)
        sub, reason = (read, None) if isinstance(read, Submission) else (None, read)
        if sub is None:
            admission_metrics.rejected_unreadable()
        job_id = message.message_id if message.message_id and JOB_ID.match(message.message_id) else None
        try:
            if sub is not None:
                try:
                    await self.admitter.admit(sub, job_id)
                except NotAdmitted as exc:
                    if exc.transient:
                        raise  # not the message's fault: it comes back and is tried again
                    reason = exc.message
            if reason is not None:
                await self._dead_letter(message, reason)
            await message.ack()
        except Exception:
            # The broker or the database is unreachable: let the message come back rather than lose it.
            log.exception("AMQP submission failed; it will be redelivered", extra={"job_id": job_id})
            await asyncio.sleep(1.0)
            await message.nack(requeue=True)

    async def _dead_letter(self, message: AbstractIncomingMessage, reason: str) -> None:
        dead_id = await dead_letters.record(
            self.db, source="admission", reason=reason, body=message.body,
            keep_days=self.bus.settings.dead_letter_retention_days,
        )  # fmt: skip
        await self.bus.dead_letter(message.body, reason, headers={"x-laneyard-dead-id": dead_id})
        log.warning("dead-lettered an AMQP submission: %s", reason, extra={"job_id": message.message_id})
