"""Dead letters: list, inspect, replay.

A replay admits a NEW job made from the dead letter's body, rather than resetting the old job to
IN_QUEUE: the old job's end is final (ERROR is terminal in ``shared.states``), and its timeline,
error and logs (kept per attempt) stay as the record of what went wrong, where a reset would mix
two runs under one id. The new job's ``replay_of`` names the dead letter, whose ``replay_job_id``
names the new job. Replaying again returns that same job (200, ``duplicate: true``), so a retried
request or two operators at once cannot make two jobs.
"""

from __future__ import annotations

import json
import time
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import ValidationError

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.admitting.refusal import invalid_reason
from laneyard.shared.ids import new_job_id
from laneyard.shared.models import JobMessage, Submission
from laneyard.shared.store import dead_letters, jobs, paging
from laneyard.shared.store.database import Doc
from laneyard.shared.views.dead_letters import DeadLetterDetail, DeadLetterItem, DeadLetterPage, ReplayResult

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


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"])
    as_reader = Depends(ctx.auth.require("read"))
    admin_scope = [Depends(ctx.auth.require("admin"))]

    @api.get("", response_model=DeadLetterPage)
    async def list_dead_letters(
        grant: Grant = as_reader,
        source: Annotated[
            str | None, Query(max_length=64, description="admission, dispatcher, runner")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=dead_letters.MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Query(max_length=512, description="`next` of a page")] = None,
        skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> DeadLetterPage:
        """Newest first, without bodies (get one for its body); follow ``next`` for the next page.
        A key limited to lanes or clusters sees only the dead letters of jobs there."""
        try:
            docs, after = await dead_letters.page(
                ctx.db, source=source, cursor=cursor, limit=limit, skip=skip, where=grant.job_filter()
            )
        except paging.BadCursor as exc:
            raise Rejected(422, str(exc)) from exc
        return DeadLetterPage(items=[DeadLetterItem.from_doc(d) for d in docs], next=after)

    @api.get("/{dead_id}", response_model=DeadLetterDetail)
    async def get_dead_letter(dead_id: str, grant: Grant = as_reader) -> DeadLetterDetail:
        doc = await dead_letters.get(ctx.db, dead_id)
        if doc is None or (grant.limited and not grant.covers(doc.get("lane"), doc.get("cluster"))):
            raise Rejected(404, f"no dead letter {dead_id!r}")
        return DeadLetterDetail.from_doc(doc)

    @api.post("/{dead_id}/replay", response_model=ReplayResult, dependencies=admin_scope)
    async def replay(dead_id: str) -> ReplayResult:
        """Admits a new job from the dead letter (200); again, the same job (200, duplicate)."""
        doc = await dead_letters.get(ctx.db, dead_id)
        if doc is None:
            raise Rejected(404, f"no dead letter {dead_id!r}")
        if doc.get("replay_job_id"):
            return await _replayed(doc)
        sub = submission_of(doc)
        job_id = new_job_id()
        owner = await dead_letters.claim_replay(ctx.db, dead_id, job_id)
        if owner is None:
            raise Rejected(404, f"no dead letter {dead_id!r}")
        if owner != job_id:
            again = await dead_letters.get(ctx.db, dead_id)
            return await _replayed(again or doc)
        await _admit(dead_id, sub, job_id)
        return ReplayResult(id=dead_id, job_id=job_id, duplicate=False)

    async def _admit(dead_id: str, sub: Submission, job_id: str) -> None:
        try:
            await ctx.admitter.admit(sub, job_id)
        except BaseException:
            await dead_letters.release_replay(ctx.db, dead_id, job_id)
            raise
        await jobs.note(ctx.db, job_id, {"replay_of": dead_id})

    async def _replayed(doc: Doc) -> ReplayResult:
        job_id = str(doc["replay_job_id"])
        claimed = float(doc.get("replayed_at") or 0.0)
        if await jobs.get(ctx.db, job_id) is None and time.time() - claimed > STALE_REPLAY_SECONDS:
            # The replay that claimed it died before the job was recorded: finish it, same job id.
            await ctx.admitter.admit(submission_of(doc), job_id)
            await jobs.note(ctx.db, job_id, {"replay_of": doc["_id"]})
        return ReplayResult(id=doc["_id"], job_id=job_id, duplicate=True)

    return api
