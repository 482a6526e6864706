"""Dead letters: the list by source, one letter, and replaying it as a new job."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from laneyard.services.admission import replaying
from laneyard.services.admission.console.pages.common import PAGE_SIZE, Console, Visit, back
from laneyard.services.admission.errors import Rejected
from laneyard.shared.store import dead_letters, paging
from laneyard.shared.views.dead_letters import DeadLetterDetail, DeadLetterItem

SOURCES = ("admission", "dispatcher", "runner")


def router(console: Console) -> APIRouter:
    ui = console.router()
    ctx = console.ctx
    as_reader = Depends(console.reader)
    as_replayer = Depends(console.writer("replay"))

    @ui.get("/dead-letters")
    async def dead_letters_page(visit: Visit = as_reader) -> Response:
        params = visit.request.query_params
        source = (params.get("source") or "").strip() or None
        cursor = (params.get("cursor") or "").strip() or None
        if source is not None and source not in SOURCES:
            raise Rejected(400, "source must be admission, dispatcher or runner")
        try:
            docs, after = await dead_letters.page(
                ctx.db, source=source, cursor=cursor, limit=PAGE_SIZE, where=visit.grant.job_filter()
            )
        except paging.BadCursor as exc:
            raise Rejected(400, str(exc)) from exc
        items = [DeadLetterItem.from_doc(d) for d in docs]
        return visit.render("dead_letters.html", items=items, next=after, source=source)

    @ui.get("/dead-letters/{dead_id}")
    async def dead_letter_page(dead_id: str, visit: Visit = as_reader) -> Response:
        grant = visit.grant
        doc = await dead_letters.get(ctx.db, dead_id)
        if doc is None or (grant.limited and not grant.covers(doc.get("lane"), doc.get("cluster"))):
            raise Rejected(404, f"no dead letter {dead_id!r}")
        return visit.render("dead_letter.html", item=DeadLetterDetail.from_doc(doc))

    @ui.post("/dead-letters/{dead_id}/replay")
    async def replay(dead_id: str, visit: Visit = as_replayer) -> Response:
        result = await replaying.replay(ctx, dead_id)
        return back(f"/ui/jobs/{result.job_id}", "replayed")

    return ui
