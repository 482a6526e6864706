"""Dead letters: list, inspect, replay.

A replay admits a NEW job made from the dead letter's body, rather than resetting the old job to
IN_QUEUE: the old job's end is final (ERROR is terminal in ``shared.states``), and its timeline,
error and logs (kept per attempt) stay as the record of what went wrong, where a reset would mix
two runs under one id. The new job's ``replay_of`` names the dead letter, whose ``replay_job_id``
names the new job. Replaying again returns that same job (200, ``duplicate: true``), so a retried
request or two operators at once cannot make two jobs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from laneyard.services.admission import replaying
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.refusal_docs import refusals
from laneyard.services.admission.routes import Context
from laneyard.shared.store import dead_letters, paging
from laneyard.shared.views.dead_letters import DeadLetterDetail, DeadLetterItem, DeadLetterPage, ReplayResult


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

    @api.get("/{dead_id}", response_model=DeadLetterDetail, responses=refusals(404))
    async def get_dead_letter(dead_id: str, grant: Grant = as_reader) -> DeadLetterDetail:
        doc = await dead_letters.get(ctx.db, dead_id)
        if doc is None or (grant.limited and not grant.covers(doc.get("lane"), doc.get("cluster"))):
            raise Rejected(404, f"no dead letter {dead_id!r}")
        return DeadLetterDetail.from_doc(doc)

    @api.post(
        "/{dead_id}/replay",
        response_model=ReplayResult,
        dependencies=admin_scope,
        responses=refusals(404, 409),
    )
    async def replay(dead_id: str) -> ReplayResult:
        """Admits a new job from the dead letter (200); again, the same job (200, duplicate)."""
        return await replaying.replay(ctx, dead_id)

    return api
