"""Jobs: the filtered list, one job with its retries and replays, its log, cancel and retry."""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from laneyard.services.admission import cancelling, retrying
from laneyard.services.admission.console import reads
from laneyard.services.admission.console.filters import RANGES, BadFilter, job_query, parse_filters
from laneyard.services.admission.console.pages.common import PAGE_SIZE, Console, Visit, back
from laneyard.services.admission.console.tree import build_tree
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store import job_queries, jobs, logs, paging
from laneyard.shared.views.jobs import JobView

LOG_BATCH = 1000


def router(console: Console) -> APIRouter:
    ui = console.router()
    ctx = console.ctx
    as_reader = Depends(console.reader)
    as_canceller = Depends(console.writer("cancel"))
    as_retrier = Depends(console.writer("retry"))

    async def jobs_values(visit: Visit) -> dict[str, Any]:
        try:
            filters = parse_filters(visit.request.query_params)
            query = job_query(filters, visit.grant, time.time())
            docs, next_cursor = await job_queries.find(ctx.db, query, PAGE_SIZE)
        except (BadFilter, paging.BadCursor) as exc:
            raise Rejected(400, str(exc)) from exc
        return {
            "filters": filters,
            "jobs": [JobView.from_doc(d, with_args=False) for d in docs],
            "next_cursor": next_cursor,
            "states": [str(s) for s in JobState],
            "ranges": list(RANGES),
        }

    @ui.get("/jobs")
    async def jobs_page(visit: Visit = as_reader) -> Response:
        wanted = (visit.request.query_params.get("id") or "").strip()
        if wanted:
            if len(wanted) > 200:
                raise Rejected(400, "a job id is at most 200 characters")
            doc = await jobs.get(ctx.db, wanted)
            if doc is None or not visit.grant.covers(doc.get("lane"), doc.get("cluster")):
                raise Rejected(404, f"no job {wanted!r}")
            return RedirectResponse(f"/ui/jobs/{wanted}", 303)
        return visit.render("jobs.html", **await jobs_values(visit))

    @ui.get("/partials/jobs")
    async def jobs_partial(visit: Visit = as_reader) -> Response:
        return visit.render("_jobs.html", **await jobs_values(visit))

    async def job_values(job_id: str, grant: Grant) -> dict[str, Any]:
        doc = await cancelling.visible_job(ctx, job_id, grant)
        found = await reads.descendants(ctx.db, doc)
        visible = {k: d for k, d in found.items() if grant.covers(d.get("lane"), d.get("cluster"))}
        replay_of = doc.get("replay_of")
        return {
            "job": JobView.from_doc(doc),
            "ended": doc["state"] in TERMINAL,
            "tree": build_tree(doc, visible),
            # replay_of names a dead letter (a replay) or a job (a retry from the console).
            "replay_is_job": bool(replay_of) and await jobs.get(ctx.db, str(replay_of)) is not None,
            "nonce": secrets.token_urlsafe(12),
        }

    @ui.get("/jobs/{job_id}")
    async def job_page(job_id: str, visit: Visit = as_reader) -> Response:
        return visit.render("job.html", **await job_values(job_id, visit.grant))

    @ui.get("/partials/jobs/{job_id}")
    async def job_partial(job_id: str, visit: Visit = as_reader) -> Response:
        return visit.render("_job.html", **await job_values(job_id, visit.grant))

    @ui.get("/partials/jobs/{job_id}/log")
    async def job_log(job_id: str, visit: Visit = as_reader) -> Response:
        params = visit.request.query_params
        doc = await cancelling.visible_job(ctx, job_id, visit.grant)
        current = int(doc.get("attempt") or 1)
        attempt = _whole_number(params.get("attempt"), current, 1, current)
        after = _whole_number(params.get("after"), 0, 0, 10**9)
        # The state is read before the lines, as the API's log route does: "ended" read first means
        # no line can come after the ones read.
        page = await logs.read_after(ctx.db, job_id, attempt, after, LOG_BATCH)
        return visit.render(
            "_log.html",
            job_id=job_id,
            attempt=attempt,
            lines=page.lines,
            after=page.next,
            done=doc["state"] in TERMINAL and page.complete,
            more=len(page.lines) >= LOG_BATCH,
        )

    @ui.post("/jobs/{job_id}/cancel")
    async def cancel(job_id: str, visit: Visit = as_canceller) -> Response:
        result = await cancelling.cancel_job(ctx, job_id, visit.grant)
        return back(f"/ui/jobs/{job_id}", "cancel-requested" if result.cancel_requested else "cancelled")

    @ui.post("/jobs/{job_id}/retry")
    async def retry(job_id: str, visit: Visit = as_retrier) -> Response:
        nonce = visit.form.get("nonce") or secrets.token_hex(8)
        new_id = await retrying.retry(ctx, job_id, visit.grant, nonce)
        return back(f"/ui/jobs/{new_id}", "retried")

    return ui


def _whole_number(raw: str | None, default: int, low: int, high: int) -> int:
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise Rejected(400, f"{raw[:40]!r} is not a whole number") from exc
    if not low <= value <= high:
        raise Rejected(400, f"{value} is not between {low} and {high}")
    return value
