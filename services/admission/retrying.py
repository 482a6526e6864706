"""Retrying an ended job as a new job: the same submission under a new id, whose ``replay_of``
names the job it retries (the old job's end and timeline stay as they were)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from laneyard.services.admission.cancelling import visible_job
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.admitting.refusal import invalid_reason
from laneyard.shared.models import Submission
from laneyard.shared.states import TERMINAL
from laneyard.shared.store import jobs

# What a job document keeps of its submission (``start_at`` has passed; the idempotency key is
# replaced by the retry's own).
RESUBMITTED = (
    "task", "args", "lane", "cluster", "priority", "tier", "max_execution_time", "max_retries",
    "retry_backoff", "slots", "heartbeat_timeout", "labels",
)  # fmt: skip


def submission_from_job(doc: Mapping[str, Any], idempotency_key: str) -> Submission:
    data = {name: doc[name] for name in RESUBMITTED if doc.get(name) is not None}
    try:
        return Submission.model_validate({**data, "idempotency_key": idempotency_key})
    except ValidationError as exc:
        raise Rejected(422, f"the job cannot be submitted again: {invalid_reason(exc)}") from exc


def retry_key(job_id: str, nonce: str) -> str:
    """One new job per retry request: a form sent twice (a double click) gets the same job back."""
    return f"retry:{job_id}:{nonce[:64]}"


async def retry(ctx: Context, job_id: str, grant: Grant, nonce: str) -> str:
    """The id of the new job; refused (409) while the job has not ended."""
    doc = await visible_job(ctx, job_id, grant)
    if doc["state"] not in TERMINAL:
        raise Rejected(409, f"job {job_id!r} is {doc['state']}; only an ended job can be retried")
    sub = submission_from_job(doc, retry_key(job_id, nonce))
    if not grant.covers(sub.lane, sub.cluster):
        raise Rejected(404, f"no job {job_id!r}")
    result = await ctx.admitter.admit(sub)
    if not result.duplicate:
        await jobs.note(ctx.db, result.id, {"replay_of": job_id})
    return result.id
