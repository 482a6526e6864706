"""Schedules: a job template submitted every N seconds, on a cron expression, or once after a job.

The dispatcher holding the dispatch lease fires them (``services.dispatcher.schedules``); this
module only records, shows and changes them.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Response
from pydantic import Field, StringConstraints, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.job_view import iso
from laneyard.services.admission.routes import Context
from laneyard.shared.models import Submission
from laneyard.shared.schedule_times import MAX_EVERY_SECONDS, MIN_EVERY_SECONDS, Every, parse_cron
from laneyard.shared.store import clusters, jobs, schedules
from laneyard.shared.store.database import Doc

WHEN = ("every", "cron", "start_after")
# Fields of the request that say when, not what: they are not part of the stored job template.
NOT_TEMPLATE = {*WHEN, "on", "name", "idempotency_key", "start_at"}


class ScheduleCreate(Submission):
    """The job's fields as for ``POST /v1/jobs``, and one of ``every``, ``cron`` or ``start_after``."""

    # Each fire gets its own key (``schedule:<id>:<fire time>``), and its own start time.
    idempotency_key: SkipJsonSchema[None] = None
    start_at: SkipJsonSchema[None] = None

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    every: float | None = Field(
        None, ge=MIN_EVERY_SECONDS, le=MAX_EVERY_SECONDS, description="seconds between jobs"
    )
    cron: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        None, description="5 fields (minute hour day-of-month month day-of-week), in UTC"
    )
    start_after: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None, description="a job id: submit one job once that job has ended"
    )
    on: Literal["completed", "any"] | None = Field(
        None, description="with start_after: fire only if that job COMPLETED (default), or on any end"
    )

    @field_validator("idempotency_key", "start_at", mode="before")
    @classmethod
    def _not_for_schedules(cls, value: object) -> None:
        if value is not None:
            raise ValueError("a schedule sets this for each job it submits; leave it out")
        return None

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, value: str | None) -> str | None:
        return None if value is None else parse_cron(value).expression

    @model_validator(mode="after")
    def _exactly_one_when(self) -> ScheduleCreate:
        given = [name for name in WHEN if getattr(self, name) is not None]
        if len(given) != 1:
            got = ", ".join(given) if given else "none"
            raise ValueError(f"give exactly one of every, cron or start_after (got {got})")
        if self.on is not None and self.start_after is None:
            raise ValueError("on applies to start_after only")
        return self


def schedule_view(doc: Doc) -> dict[str, Any]:
    return {
        "id": doc["_id"],
        "name": doc.get("name"),
        "kind": doc.get("kind"),
        "every": doc.get("every"),
        "cron": doc.get("cron"),
        "start_after": doc.get("start_after"),
        "on": doc.get("on"),
        "job": doc.get("job"),
        "paused": bool(doc.get("paused")),
        "finished": doc.get("next_run_at") is None,
        "finished_reason": doc.get("finished_reason"),
        "next_run_at": iso(doc.get("next_run_at")),
        "fires": int(doc.get("fires") or 0),
        "last_fire_at": iso(doc.get("last_fire_at")),
        "last_job_id": doc.get("last_job_id"),
        "last_completed_at": iso(doc.get("last_completed_at")),
        "last_error": doc.get("last_error"),
        "created_at": iso(doc.get("created_at")),
    }


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/schedules", tags=["schedules"])
    submit_scope = [Depends(ctx.auth.require("submit"))]
    read_scope = [Depends(ctx.auth.require("read"))]

    async def existing(schedule_id: str) -> Doc:
        doc = await schedules.get(ctx.db, schedule_id)
        if doc is None:
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return doc

    @api.post("", status_code=201, dependencies=submit_scope)
    async def create(body: ScheduleCreate) -> dict[str, Any]:
        """Unknown tasks cannot be checked here (runners register them); such jobs fail when run."""
        limit = ctx.settings.max_args_bytes
        size = len(json.dumps(body.args, separators=(",", ":")))
        if size > limit:
            raise Rejected(413, f"args is {size} bytes; the limit is {limit} bytes")
        cluster = await clusters.get(ctx.db, body.cluster)
        if cluster is None:
            raise Rejected(404, f"unknown cluster {body.cluster!r}")
        if cluster.get("deleting"):
            raise Rejected(409, f"cluster {body.cluster!r} is being deleted")
        if body.start_after is not None and await jobs.get(ctx.db, body.start_after) is None:
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
        return schedule_view(doc)

    @api.get("", dependencies=read_scope)
    async def list_schedules() -> dict[str, Any]:
        return {"schedules": [schedule_view(d) for d in await schedules.all_schedules(ctx.db)]}

    @api.get("/{schedule_id}", dependencies=read_scope)
    async def get(schedule_id: str) -> dict[str, Any]:
        return schedule_view(await existing(schedule_id))

    @api.delete("/{schedule_id}", status_code=204, dependencies=submit_scope)
    async def delete(schedule_id: str) -> Response:
        """Jobs it already submitted are not touched."""
        if not await schedules.delete(ctx.db, schedule_id):
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return Response(status_code=204)

    @api.post("/{schedule_id}/pause", dependencies=submit_scope)
    async def pause(schedule_id: str) -> dict[str, Any]:
        """Takes effect within a tick (a fire already under way still submits its job)."""
        await existing(schedule_id)
        doc = await schedules.set_paused(ctx.db, schedule_id, True)
        if doc is None:
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return schedule_view(doc)

    @api.post("/{schedule_id}/resume", dependencies=submit_scope)
    async def resume(schedule_id: str) -> dict[str, Any]:
        """Carries on at the next tick after now: fires missed while paused are not made up."""
        doc = await existing(schedule_id)
        next_run_at = doc.get("next_run_at")
        now = time.time()
        moved = None
        if doc.get("kind") != "start_after" and next_run_at is not None and float(next_run_at) <= now:
            moved = schedules.cadence_of(doc).after(float(next_run_at), now)
        updated = await schedules.set_paused(ctx.db, schedule_id, False, moved)
        if updated is None:
            raise Rejected(404, f"no schedule {schedule_id!r}")
        return schedule_view(updated)

    return api
