"""Jobs: submit, list, get, logs, cancel."""

from __future__ import annotations

import asyncio
import logging
import re
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from laneyard.services.admission import cancelling
from laneyard.services.admission.errors import UNAVAILABLE, Rejected
from laneyard.services.admission.grants import Grant, as_granted
from laneyard.services.admission.refusal_docs import refusals
from laneyard.services.admission.routes import Context
from laneyard.shared.admitting.refusal import NotAdmitted
from laneyard.shared.models import (
    MAX_BATCH,
    BatchItem,
    BatchResult,
    Submission,
    SubmissionBatch,
    SubmitResult,
)
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store import job_queries, jobs, logs, paging
from laneyard.shared.store.database import Doc
from laneyard.shared.views import utc
from laneyard.shared.views.jobs import CancelResult, JobPage, JobView, LogLine, LogPage

log = logging.getLogger(__name__)
_LABEL_KEY = re.compile(r"^[A-Za-z0-9_-]{1,63}$")
MAX_LOG_LINES = 10_000


def parse_labels(raw: list[str]) -> dict[str, str]:
    labels: dict[str, str] = {}
    for item in raw:
        key, sep, value = item.partition(":")
        if not sep or not _LABEL_KEY.match(key):
            raise Rejected(422, f"label filter {item[:100]!r} must be key:value, the key [A-Za-z0-9_-]")
        labels[key] = value
    return labels


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/jobs", tags=["jobs"])
    as_submitter = Depends(ctx.auth.require("submit"))
    as_reader = Depends(ctx.auth.require("read"))

    async def visible(job_id: str, grant: Grant) -> Doc:
        return await cancelling.visible_job(ctx, job_id, grant)

    async def admit_as(grant: Grant, sub: Submission) -> SubmitResult:
        sub = as_granted(grant, sub, "submit to")
        result = await ctx.admitter.admit(sub)
        if result.duplicate and grant.limited:
            # The key may belong to another tenant's job, in another lane: neither it nor its id is shown.
            first = await jobs.get(ctx.db, result.id)
            if first is None or not grant.covers(first.get("lane"), first.get("cluster")):
                raise Rejected(409, "this idempotency key is already in use by a job this API key cannot see")
        return result

    @api.post(
        "",
        status_code=202,
        response_model=SubmitResult,
        responses={
            200: {"model": SubmitResult, "description": "a duplicate of the first job"},
            **refusals(404, 409),
        },
    )
    async def submit(sub: Submission, response: Response, grant: Grant = as_submitter) -> SubmitResult:
        """202 with a new job; 200 with ``duplicate: true`` and the first job for a repeated key."""
        result = await admit_as(grant, sub)
        if result.duplicate:
            response.status_code = 200
        return result

    @api.post(
        "/batch",
        status_code=202,
        response_model=BatchResult,
        responses={207: {"model": BatchResult, "description": "some were refused"}},
    )
    async def submit_batch(
        batch: SubmissionBatch, response: Response, grant: Grant = as_submitter
    ) -> BatchResult:
        """Up to 500 jobs in one request, each admitted on its own as by ``POST /v1/jobs``: 202 when
        every one was admitted (or was a duplicate), 207 when some were refused; each item says."""
        items = list(await asyncio.gather(*(admit_one(grant, sub) for sub in batch.jobs)))
        refused = sum(1 for item in items if item.status >= 300)
        if refused:
            response.status_code = 207
        return BatchResult(admitted=len(items) - refused, refused=refused, jobs=items)

    # Jobs of batches being admitted at once, across all requests: many large batches arriving
    # together queue here instead of holding thousands of publishes and writes in memory.
    admitting = asyncio.Semaphore(MAX_BATCH)

    async def admit_one(grant: Grant, sub: Submission) -> BatchItem:
        try:
            async with admitting:
                result = await admit_as(grant, sub)
        except NotAdmitted as exc:
            return BatchItem(status=exc.http_status, detail=exc.message)
        except Rejected as exc:
            return BatchItem(status=exc.status, detail=exc.message)
        except Exception as exc:
            # Broker or database trouble with this job: the others stand; the caller retries this
            # one (with an idempotency key, a retry that did go through comes back a duplicate).
            bug = not isinstance(exc, UNAVAILABLE)  # then the traceback is worth having
            log.warning("admitting a job of a batch failed: %r", exc, exc_info=bug)
            return BatchItem(status=503, detail=f"not admitted, retry it: {type(exc).__name__}")
        status = 200 if result.duplicate else 202
        return BatchItem(status=status, id=result.id, state=result.state, duplicate=result.duplicate)

    @api.get("", response_model=JobPage)
    async def list_jobs(
        grant: Grant = as_reader,
        state: JobState | None = None,
        lane: str | None = None,
        cluster: str | None = None,
        label: Annotated[list[str], Query(description="key:value; repeat for several")] = [],  # noqa: B006
        limit: Annotated[int, Query(ge=1, le=job_queries.MAX_LIMIT)] = 100,
        cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of a page")] = None,
        skip: Annotated[int, Query(ge=0, le=100_000)] = 0,
    ) -> JobPage:
        """Newest first, without args (get a job for those); follow ``next_cursor`` for the next page.
        A key limited to lanes or clusters sees only their jobs."""
        if (lane is not None and not grant.covers_lane(lane)) or (
            cluster is not None and not grant.covers_cluster(cluster)
        ):
            raise Rejected(403, "this API key may not read jobs of that lane or cluster")
        try:
            query = job_queries.build_filter(
                state=str(state) if state else None,
                lane=lane,
                cluster=cluster,
                labels=parse_labels(label),
                cursor=cursor,
            )
        except paging.BadCursor as exc:
            raise Rejected(422, str(exc)) from exc
        for field, allowed in grant.job_filter().items():
            query.setdefault(field, allowed)  # an explicit lane or cluster was checked above
        docs, next_cursor = await job_queries.find(ctx.db, query, limit, skip)
        return JobPage(jobs=[JobView.from_doc(d, with_args=False) for d in docs], next_cursor=next_cursor)

    @api.get("/{job_id}", response_model=JobView, responses=refusals(404))
    async def get_job(job_id: str, grant: Grant = as_reader) -> JobView:
        return JobView.from_doc(await visible(job_id, grant))

    @api.get("/{job_id}/logs", response_model=LogPage, responses=refusals(404))
    async def get_logs(
        job_id: str,
        grant: Grant = as_reader,
        attempt: Annotated[int | None, Query(ge=1, le=1000, description="default: the current one")] = None,
        after: Annotated[int, Query(ge=0, description="return lines whose seq is greater")] = 0,
        limit: Annotated[int, Query(ge=1, le=MAX_LOG_LINES)] = 1000,
    ) -> LogPage:
        """One attempt's lines in order. To follow: pass ``next`` back as ``after`` (with the same
        ``attempt``) until ``done``, which is true once the job has ended and every line was returned."""
        # The state is read before the lines: a runner stores an attempt's last lines before it
        # records the job's end, so "ended" read first means no line can come after those read.
        doc = await visible(job_id, grant)
        current = int(doc.get("attempt") or 1)
        wanted = attempt or current
        if wanted > current:
            raise Rejected(404, f"job {job_id!r} has had {current} attempt(s); there is no attempt {wanted}")
        page = await logs.read_after(ctx.db, job_id, wanted, after, limit)
        lines = [
            LogLine(seq=ln["seq"], ts=utc(ln.get("t")), stream=ln.get("s"), line=ln.get("m"))
            for ln in page.lines
        ]
        return LogPage(
            id=job_id,
            state=doc["state"],
            attempt=wanted,
            attempts=current,
            lines=lines,
            next=page.next,
            done=doc["state"] in TERMINAL and page.complete,
        )

    @api.post(
        "/{job_id}/cancel",
        response_model=CancelResult,
        responses={
            202: {"model": CancelResult, "description": "running: asked to stop"},
            **refusals(404, 409),
        },
    )
    async def cancel(job_id: str, response: Response, grant: Grant = as_submitter) -> CancelResult:
        """A queued job is cancelled at once (200); a running one is asked to stop (202)."""
        result = await cancelling.cancel_job(ctx, job_id, grant)
        if result.cancel_requested:
            response.status_code = 202
        return result

    return api
