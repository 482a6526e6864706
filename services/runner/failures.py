"""A job's last failure: its message goes to the dead letters, with the reason, to be replayed.

The record is written before the job's ERROR, so that no crash in between can lose it; if the
ERROR does not happen after all (the job was cancelled or taken over meanwhile), it is withdrawn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from laneyard.services.runner.outcome import Outcome
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.store import dead_letters
from laneyard.shared.store.database import Database

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LastFailure:
    dead_id: str
    reason: str
    body: bytes


async def record(
    db: Database, job: JobMessage, attempt: int, outcome: Outcome, *, keep_days: float | None = None
) -> LastFailure:
    detail = (outcome.error or "").strip().splitlines()
    reason = f"failed on its last attempt ({attempt} of {job.max_retries + 1}): {outcome.reason or 'error'}"
    if detail:
        reason += f": {detail[0][:500]}"
    body = job.model_copy(update={"attempt": attempt}).model_dump_json().encode()
    dead_id = await dead_letters.record(
        db, source="runner", reason=reason, body=body, job_id=job.id, keep_days=keep_days
    )
    return LastFailure(dead_id, reason, body)


async def settle(bus: Bus, db: Database, job: JobMessage, failure: LastFailure, *, failed: bool) -> None:
    """Publishes the dead letter once the job's ERROR is recorded, or withdraws it."""
    if not failed:
        await dead_letters.forget(db, failure.dead_id)
        return
    headers = {"x-laneyard-dead-id": failure.dead_id, "x-laneyard-job-id": job.id}
    await bus.dead_letter(failure.body, failure.reason, headers=headers)
    log.warning("dead-lettered after its last attempt: %s", failure.reason, extra={"job_id": job.id})
