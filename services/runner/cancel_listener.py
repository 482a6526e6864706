"""Cancel requests for running jobs: admission broadcasts them, the runner holding the job stops it.

Admission records ``cancel_requested_at`` on a RUNNING job and publishes ``{"type": "cancel"}`` on
the control exchange (fanout), so the request reaches every runner at once, wherever the job runs;
the one that has it cancels its task (a subprocess gets SIGTERM, then SIGKILL) and records
CANCELLED. A request that reaches no runner holding the job is simply ignored by all of them.
"""

from __future__ import annotations

import json
import logging

from aio_pika.abc import AbstractIncomingMessage

from laneyard.services.runner.worker import Worker
from laneyard.shared.amqp.bus import Bus

log = logging.getLogger(__name__)


async def listen(bus: Bus, worker: Worker) -> None:
    _, topology = await bus.consumer_channel(16)
    queue = await topology.listener_queue(bus.names.control_exchange)

    async def on_control(message: AbstractIncomingMessage) -> None:
        try:
            event = json.loads(message.body)
        except ValueError:
            log.warning("ignoring an undecodable control message")
            return
        if isinstance(event, dict) and event.get("type") == "cancel":
            worker.cancel(str(event.get("job_id")))

    await queue.consume(on_control, no_ack=True)
