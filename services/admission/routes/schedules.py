"""Schedules: a job template submitted every N seconds, on a cron expression, or once after a job.

The dispatcher holding the dispatch lease fires them (``services.dispatcher.schedules``); this
module only records, shows and changes them.
"""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Depends, Response

from laneyard.services.admission import schedule_changes, schedule_runs
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant, as_granted
from laneyard.services.admission.refusal_docs import refusals
from laneyard.services.admission.routes import Context
from laneyard.shared.schedule_overlap import DEFAULT_OVERLAP
from laneyard.shared.schedule_times import Cron, Every, first_fire, jitter_offset, parse_cron
from laneyard.shared.store import clusters, jobs, schedules
from laneyard.shared.store.database import Doc
from laneyard.shared.views.schedules import (
    RECURRING,
    WHEN,
    BackfillRequest,
    BackfillResult,
    ScheduleCreate,
    ScheduleList,
    ScheduleView,
    TriggerRequest,
    TriggerResult,
)

# Fields of the request that say when, not what: they are not part of the stored job template.
NOT_TEMPLATE = {*WHEN, *RECURRING, "on", "name", "idempotency_key", "timezone"}


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/schedules", tags=["schedules"])
    as_submitter = Depends(ctx.auth.require("submit"))
    as_reader = Depends(ctx.auth.require("read"))

    def covers(grant: Grant, doc: Doc) -> bool:
        job = doc.get("job") or {}
        return grant.covers(job.get("lane", "main"), job.get("cluster", "default"))

    async def existing(schedule_id: str, grant: Grant) -> Doc:
        """The schedule, if this key may see it: another tenant's is as unknown as a missing one."""
        doc = await schedules.get(ctx.db, schedule_id)
        if doc is None or not covers(grant, doc):
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return doc

    @api.post("", status_code=201, response_model=ScheduleView, responses=refusals(404, 409))
    async def create(body: ScheduleCreate, grant: Grant = as_submitter) -> ScheduleView:
        """Unknown tasks cannot be checked here (runners register them); such jobs fail when run."""
        body = as_granted(grant, body, "schedule jobs in")
        limit = ctx.settings.max_args_bytes
        size = len(json.dumps(body.args, separators=(",", ":")))
        if size > limit:
            raise Rejected(413, f"args is {size} bytes; the limit is {limit} bytes")
        cluster = await clusters.get(ctx.db, body.cluster)
        if cluster is None:
            raise Rejected(404, f"unknown cluster {body.cluster!r}")
        if cluster.get("deleting"):
            raise Rejected(409, f"cluster {body.cluster!r} is being deleted")
        if body.start_after is not None:
            after = await jobs.get(ctx.db, body.start_after)
            if after is None or not grant.covers(after.get("lane"), after.get("cluster")):
                raise Rejected(422, f"start_after: no job {body.start_after!r}")
        if await schedules.count(ctx.db) >= schedules.MAX_SCHEDULES:
            raise Rejected(409, f"there are already {schedules.MAX_SCHEDULES} schedules; delete some first")

        now = time.time()
        schedule_id = schedules.new_id()
        offset = jitter_offset(schedule_id, body.jitter or 0.0)
        start_at = body.start_at.timestamp() if body.start_at is not None else None
        end_at = body.end_at.timestamp() if body.end_at is not None else None
        cadence: Every | Cron | None = None
        if body.every is not None:
            kind: schedules.Kind = "every"
            cadence = Every(body.every)
        elif body.cron is not None:
            kind = "cron"
            cadence = Cron(parse_cron(body.cron).expression, body.timezone or "UTC")
        if cadence is not None:
            first = first_fire(cadence, now, start_at)
            if end_at is not None and first > end_at:
                raise Rejected(422, "end_at: the schedule would never fire (its first fire is after it)")
            next_run_at = first + offset
        else:
            # Looked at from the next tick on: the job may have ended already.
            kind, next_run_at = "start_after", now
        doc = schedules.new_schedule_doc(
            schedule_id=schedule_id,
            name=body.name,
            job=body.model_dump(mode="json", exclude=NOT_TEMPLATE),
            kind=kind,
            every=body.every,
            cron=body.cron,
            start_after=body.start_after,
            on=(body.on or "completed") if body.start_after is not None else None,
            next_run_at=next_run_at,
            now=now,
            overlap=body.overlap or DEFAULT_OVERLAP,
            catch_up=body.catch_up or "one",
            catch_up_limit=body.catch_up_limit or schedules.DEFAULT_CATCH_UP_LIMIT,
            start_at=start_at,
            end_at=end_at,
            jitter=body.jitter or 0.0,
            jitter_offset=offset,
            timezone=body.timezone or "UTC",
        )
        await schedules.insert(ctx.db, doc)
        return ScheduleView.from_doc(doc, next_fires=schedules.upcoming(doc))

    @api.get("", response_model=ScheduleList)
    async def list_schedules(grant: Grant = as_reader) -> ScheduleList:
        """A key limited to lanes or clusters sees only the schedules of jobs there."""
        found = [d for d in await schedules.all_schedules(ctx.db) if covers(grant, d)]
        return ScheduleList(schedules=[ScheduleView.from_doc(d) for d in found])

    @api.get("/{schedule_id}", response_model=ScheduleView, responses=refusals(404))
    async def get(schedule_id: str, grant: Grant = as_reader) -> ScheduleView:
        """With its next fire times, its latest runs and their states, and its skipped fires."""
        return await schedule_runs.shown(ctx, await existing(schedule_id, grant))

    @api.post("/{schedule_id}/trigger", response_model=TriggerResult, responses=refusals(404, 409))
    async def trigger(
        schedule_id: str, body: TriggerRequest | None = None, grant: Grant = as_submitter
    ) -> TriggerResult:
        """Runs its job now, recorded as a manual run. The overlap policy applies (skip: 409 while
        the previous run is unfinished) unless the body says otherwise: ``{"overlap": "allow"}``."""
        return await schedule_runs.trigger(ctx, schedule_id, grant, body or TriggerRequest())

    @api.post("/{schedule_id}/backfill", response_model=BackfillResult, responses=refusals(404, 409))
    async def backfill(
        schedule_id: str, body: BackfillRequest, grant: Grant = as_submitter
    ) -> BackfillResult:
        """A run per fire time in [from, to] (at most 500), each with its fire time (label
        ``laneyard.fire_at``) and the fire time before it as ``last_completed_at``. Fire times that
        already ran (by the schedule or an earlier backfill) get their job back, not a second."""
        return await schedule_runs.backfill(ctx, schedule_id, grant, body)

    @api.delete("/{schedule_id}", status_code=204, responses=refusals(404))
    async def delete(schedule_id: str, grant: Grant = as_submitter) -> Response:
        """Jobs it already submitted are not touched."""
        await schedule_changes.delete(ctx, schedule_id, grant)
        return Response(status_code=204)

    @api.post("/{schedule_id}/pause", response_model=ScheduleView, responses=refusals(404))
    async def pause(schedule_id: str, grant: Grant = as_submitter) -> ScheduleView:
        """Takes effect within a tick (a fire already under way still submits its job)."""
        return ScheduleView.from_doc(await schedule_changes.pause(ctx, schedule_id, grant))

    @api.post("/{schedule_id}/resume", response_model=ScheduleView, responses=refusals(404))
    async def resume(schedule_id: str, grant: Grant = as_submitter) -> ScheduleView:
        """Carries on at the next tick after now: fires missed while paused are not made up."""
        return ScheduleView.from_doc(await schedule_changes.resume(ctx, schedule_id, grant))

    return api
