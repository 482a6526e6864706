"""Replaying a dead letter, as ``POST /v1/dead-letters/{id}/replay`` and the console both do it.

A replay admits a NEW job made from the dead letter's body (see ``routes.dead_letters``); replaying
again returns that same job, so a retried request or two operators at once cannot make two jobs.
"""

from __future__ import annotations

import json
import time

from pydantic import ValidationError

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.routes import Context
from laneyard.shared.admitting.refusal import invalid_reason
from laneyard.shared.ids import new_job_id
from laneyard.shared.models import JobMessage, Submission
from laneyard.shared.store import dead_letters, jobs
from laneyard.shared.store.database import Doc
from laneyard.shared.views.dead_letters import ReplayResult

# A claimed replay whose job is still not recorded after this long was interrupted: it is redone.
STALE_REPLAY_SECONDS = 30.0


def submission_of(doc: Doc) -> Submission:
    """The submission a dead letter's body stands for: a submission as clients send it (admission's
    AMQP ingress), or a job message as the dispatcher and runners carry it. 422 if it is neither."""
    if doc.get("body_truncated"):
        raise Rejected(422, "the body was cut when it was recorded (over 64 KiB), so it cannot be replayed")
    try:
        data = json.loads(str(doc.get("body") or ""))
    except ValueError as exc:
        raise Rejected(422, f"the body is not JSON ({exc}), so it cannot be replayed") from exc
    if not isinstance(data, dict):
        raise Rejected(422, "the body is not a JSON object, so it cannot be replayed")
    if "id" in data:
        try:
            job = JobMessage.model_validate(data)
        except ValidationError as exc:
            raise Rejected(422, f"the body is not a job message: {invalid_reason(exc)}") from exc
        data = {
            "task": job.task, "args": job.args, "lane": job.lane, "cluster": job.cluster,
            "priority": job.priority, "tier": str(job.tier), "max_execution_time": job.max_execution_time,
            "max_retries": job.max_retries, "retry_backoff": job.retry_backoff, "labels": job.labels,
        }  # fmt: skip
    else:
        # The key belongs to the job (or attempt) that failed: admission would hand that one back
        # instead of making a new job. The replay's own idempotency is the dead letter's claim.
        data.pop("idempotency_key", None)
    try:
        return Submission.model_validate(data)
    except ValidationError as exc:
        raise Rejected(422, f"{invalid_reason(exc)}; it cannot be replayed") from exc


async def replay(ctx: Context, dead_id: str) -> ReplayResult:
    """Admits a new job from the dead letter; asked again, returns that job (``duplicate``)."""
    doc = await dead_letters.get(ctx.db, dead_id)
    if doc is None:
        raise Rejected(404, f"no dead letter {dead_id!r}")
    if doc.get("replay_job_id"):
        return await _replayed(ctx, doc)
    sub = submission_of(doc)
    job_id = new_job_id()
    owner = await dead_letters.claim_replay(ctx.db, dead_id, job_id)
    if owner is None:
        raise Rejected(404, f"no dead letter {dead_id!r}")
    if owner != job_id:
        again = await dead_letters.get(ctx.db, dead_id)
        return await _replayed(ctx, again or doc)
    await _admit(ctx, dead_id, sub, job_id)
    return ReplayResult(id=dead_id, job_id=job_id, duplicate=False)


async def _admit(ctx: Context, dead_id: str, sub: Submission, job_id: str) -> None:
    try:
        await ctx.admitter.admit(sub, job_id)
    except BaseException:
        await dead_letters.release_replay(ctx.db, dead_id, job_id)
        raise
    await jobs.note(ctx.db, job_id, {"replay_of": dead_id})


async def _replayed(ctx: Context, doc: Doc) -> ReplayResult:
    job_id = str(doc["replay_job_id"])
    claimed = float(doc.get("replayed_at") or 0.0)
    if await jobs.get(ctx.db, job_id) is None and time.time() - claimed > STALE_REPLAY_SECONDS:
        # The replay that claimed it died before the job was recorded: finish it, same job id.
        await ctx.admitter.admit(submission_of(doc), job_id)
        await jobs.note(ctx.db, job_id, {"replay_of": doc["_id"]})
    return ReplayResult(id=doc["_id"], job_id=job_id, duplicate=True)
