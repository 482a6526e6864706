"""Cancelling one job, for the API's cancel and a schedule's ``cancel_other``: a queued or waiting
job is cancelled at once; a running one is marked and its runner told on the control exchange."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aio_pika.abc import ExchangeType

from laneyard.shared import lifecycle
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.metrics import runner as runner_metrics
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store import job_record
from laneyard.shared.store.database import Database

# The job may move on between reading its state and changing it: a few rounds.
ROUNDS = 5


@dataclass(frozen=True)
class Cancelled:
    """``state`` is CANCELLED (done), RUNNING (asked to stop), or the terminal state it already
    had; None if there is no such job (``missing``), or it kept changing state."""

    state: JobState | None
    requested: bool = False
    already_ended: bool = False
    missing: bool = False


async def cancel(db: Database, bus: Bus, job_id: str) -> Cancelled:
    for _ in range(ROUNDS):
        stored = await job_record.read(db, job_id)
        if stored is None:
            return Cancelled(None, missing=True)
        state, attempt = stored.state, stored.attempt
        if state in TERMINAL:
            return Cancelled(state, already_ended=True)
        if state in lifecycle.CANCELLABLE:
            if await lifecycle.cancel_queued(db, job_id, attempt):
                runner_metrics.TASKS_CANCELLED.labels(stored.task).inc()
                return Cancelled(JobState.CANCELLED)
            continue
        if state is JobState.AWAITING_SUBTASKS:
            if await lifecycle.cancel_awaiting(db, job_id, attempt):
                return Cancelled(JobState.CANCELLED)
            continue
        # RUNNING: only its runner can stop it; the request is recorded and broadcast.
        if not await lifecycle.request_cancel(db, job_id):
            continue
        await bus.publish(
            bus.names.control_exchange,
            ExchangeType.FANOUT,
            json.dumps({"type": "cancel", "job_id": job_id}).encode(),
            transient=True,
        )
        return Cancelled(JobState.RUNNING, requested=True)
    return Cancelled(None)
