"""Pausing, resuming and deleting a schedule, as the schedule routes and the console both do it."""

from __future__ import annotations

import time

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.store import schedules
from laneyard.shared.store.database import Doc


def covers(grant: Grant, doc: Doc) -> bool:
    job = doc.get("job") or {}
    return grant.covers(job.get("lane", "main"), job.get("cluster", "default"))


async def visible_schedule(ctx: Context, schedule_id: str, grant: Grant) -> Doc:
    """The schedule, if this key may see it: another tenant's is as unknown as a missing one."""
    doc = await schedules.get(ctx.db, schedule_id)
    if doc is None or not covers(grant, doc):
        raise Rejected(404, f"no schedule {schedule_id!r}")
    return doc


async def delete(ctx: Context, schedule_id: str, grant: Grant) -> None:
    """Jobs it already submitted are not touched."""
    await visible_schedule(ctx, schedule_id, grant)
    if not await schedules.delete(ctx.db, schedule_id):
        raise Rejected(404, f"no schedule {schedule_id!r}")


async def pause(ctx: Context, schedule_id: str, grant: Grant) -> Doc:
    """Takes effect within a tick (a fire already under way still submits its job)."""
    await visible_schedule(ctx, schedule_id, grant)
    doc = await schedules.set_paused(ctx.db, schedule_id, True)
    if doc is None:
        raise Rejected(404, f"no schedule {schedule_id!r}")
    return doc


async def resume(ctx: Context, schedule_id: str, grant: Grant) -> Doc:
    """Carries on at the next tick after now: fires missed while paused are not made up."""
    doc = await visible_schedule(ctx, schedule_id, grant)
    next_run_at = doc.get("next_run_at")
    now = time.time()
    moved = None
    if doc.get("kind") != "start_after" and next_run_at is not None and float(next_run_at) <= now:
        moved = schedules.cadence_of(doc).after(float(next_run_at), now)
    updated = await schedules.set_paused(ctx.db, schedule_id, False, moved)
    if updated is None:
        raise Rejected(404, f"no schedule {schedule_id!r}")
    return updated
