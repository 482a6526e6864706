"""Schedules: a job template submitted every N seconds, on a cron expression, or once after a job.

The dispatcher holding the dispatch lease fires them (``services.dispatcher.schedules``); this
module only records, shows and changes them.
"""

from __future__ import annotations

import json
import time

from fastapi import APIRouter, Depends, Response

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.schedule_times import Every, parse_cron
from laneyard.shared.store import clusters, jobs, schedules
from laneyard.shared.store.database import Doc
from laneyard.shared.views.schedules import WHEN, ScheduleCreate, ScheduleList, ScheduleView

# Fields of the request that say when, not what: they are not part of the stored job template.
NOT_TEMPLATE = {*WHEN, "on", "name", "idempotency_key", "start_at"}


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

    @api.post("", status_code=201, response_model=ScheduleView)
    async def create(body: ScheduleCreate, grant: Grant = as_submitter) -> ScheduleView:
        """Unknown tasks cannot be checked here (runners register them); such jobs fail when run."""
        if not grant.covers(body.lane, body.cluster):
            where = f"lane {body.lane!r} of cluster {body.cluster!r}"
            raise Rejected(403, f"this API key may not schedule jobs in {where}")
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
        if body.every is not None:
            kind: schedules.Kind = "every"
            next_run_at = Every(body.every).first(now)
        elif body.cron is not None:
            kind = "cron"
            next_run_at = parse_cron(body.cron).first(now)
        else:
            # Looked at from the next tick on: the job may have ended already.
            kind, next_run_at = "start_after", now
        doc = schedules.new_schedule_doc(
            schedule_id=schedules.new_id(),
            name=body.name,
            job=body.model_dump(mode="json", exclude=NOT_TEMPLATE),
            kind=kind,
            every=body.every,
            cron=body.cron,
            start_after=body.start_after,
            on=(body.on or "completed") if body.start_after is not None else None,
            next_run_at=next_run_at,
            now=now,
        )
        await schedules.insert(ctx.db, doc)
        return ScheduleView.from_doc(doc)

    @api.get("", response_model=ScheduleList)
    async def list_schedules(grant: Grant = as_reader) -> ScheduleList:
        """A key limited to lanes or clusters sees only the schedules of jobs there."""
        found = [d for d in await schedules.all_schedules(ctx.db) if covers(grant, d)]
        return ScheduleList(schedules=[ScheduleView.from_doc(d) for d in found])

    @api.get("/{schedule_id}", response_model=ScheduleView)
    async def get(schedule_id: str, grant: Grant = as_reader) -> ScheduleView:
        return ScheduleView.from_doc(await existing(schedule_id, grant))

    @api.delete("/{schedule_id}", status_code=204)
    async def delete(schedule_id: str, grant: Grant = as_submitter) -> Response:
        """Jobs it already submitted are not touched."""
        await existing(schedule_id, grant)
        if not await schedules.delete(ctx.db, schedule_id):
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return Response(status_code=204)

    @api.post("/{schedule_id}/pause", response_model=ScheduleView)
    async def pause(schedule_id: str, grant: Grant = as_submitter) -> ScheduleView:
        """Takes effect within a tick (a fire already under way still submits its job)."""
        await existing(schedule_id, grant)
        doc = await schedules.set_paused(ctx.db, schedule_id, True)
        if doc is None:
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return ScheduleView.from_doc(doc)

    @api.post("/{schedule_id}/resume", response_model=ScheduleView)
    async def resume(schedule_id: str, grant: Grant = as_submitter) -> ScheduleView:
        """Carries on at the next tick after now: fires missed while paused are not made up."""
        doc = await existing(schedule_id, grant)
        next_run_at = doc.get("next_run_at")
        now = time.time()
        moved = None
        if doc.get("kind") != "start_after" and next_run_at is not None and float(next_run_at) <= now:
            moved = schedules.cadence_of(doc).after(float(next_run_at), now)
        updated = await schedules.set_paused(ctx.db, schedule_id, False, moved)
        if updated is None:
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return ScheduleView.from_doc(updated)

    return api
