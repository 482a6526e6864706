"""Schedules: the list, one schedule with the jobs it made, and pausing, resuming or deleting it."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from laneyard.services.admission import schedule_changes
from laneyard.services.admission.console import reads
from laneyard.services.admission.console.pages.common import PAGE_SIZE, Console, Visit, back
from laneyard.services.admission.errors import Rejected
from laneyard.shared.store import schedules
from laneyard.shared.views.jobs import JobView
from laneyard.shared.views.schedules import ScheduleView

CHANGES = ("pause", "resume", "delete")


def known_change(change: str) -> str:
    if change not in CHANGES:
        raise Rejected(404, f"no such change {change[:40]!r}")
    return change


def router(console: Console) -> APIRouter:
    ui = console.router()
    ctx = console.ctx
    as_reader = Depends(console.reader)
    as_scheduler = Depends(console.writer("schedule"))
    # Resolved before the writer (FastAPI solves dependencies in order): an unknown change is a 404
    # whatever the form, session or key.
    a_known_change = Depends(known_change)

    @ui.get("/schedules")
    async def schedules_page(visit: Visit = as_reader) -> Response:
        found = [d for d in await schedules.all_schedules(ctx.db) if schedule_changes.covers(visit.grant, d)]
        return visit.render("schedules.html", schedules=[ScheduleView.from_doc(d) for d in found])

    @ui.get("/schedules/{schedule_id}")
    async def schedule_page(schedule_id: str, visit: Visit = as_reader) -> Response:
        doc = await schedule_changes.visible_schedule(ctx, schedule_id, visit.grant)
        made = await reads.jobs_of_schedule(ctx.db, schedule_id, visit.grant.job_filter(), PAGE_SIZE)
        return visit.render(
            "schedule.html",
            schedule=ScheduleView.from_doc(doc),
            jobs=[JobView.from_doc(d, with_args=False) for d in made],
        )

    @ui.post("/schedules/{schedule_id}/{change}")
    async def change_schedule(
        schedule_id: str, change: str = a_known_change, visit: Visit = as_scheduler
    ) -> Response:
        if change == "delete":
            await schedule_changes.delete(ctx, schedule_id, visit.grant)
            return back("/ui/schedules", "deleted")
        if change == "pause":
            await schedule_changes.pause(ctx, schedule_id, visit.grant)
        else:
            await schedule_changes.resume(ctx, schedule_id, visit.grant)
        return back(f"/ui/schedules/{schedule_id}", "paused" if change == "pause" else "resumed")

    return ui
