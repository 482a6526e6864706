"""Running a schedule's job outside its own fires: ``trigger`` (run now, under the overlap policy)
and ``backfill`` (a run per past fire time in a range); and a schedule as ``GET`` shows it.

A trigger decides as a fire does (``shared.schedule_overlap.on_fire``); a backfill ignores the
policy (it asks for every fire time in its range) and uses the fire keys of normal fires, so a fire
time that already ran gets its job back, not a second one.
"""

from __future__ import annotations

import asyncio
import time
import uuid

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.services.admission.schedule_changes import visible_schedule
from laneyard.shared import cancelling
from laneyard.shared.models import Submission
from laneyard.shared.schedule_overlap import Action, on_fire, skip_reason
from laneyard.shared.schedule_times import TooManyFires, fires_between
from laneyard.shared.store import schedules
from laneyard.shared.store.database import Doc
from laneyard.shared.views import utc
from laneyard.shared.views.schedules import (
    BackfillRequest,
    BackfillResult,
    ScheduleView,
    TriggerRequest,
    TriggerResult,
)

MAX_BACKFILL = 500


def submission(doc: Doc, key: str, fire_at: float, kind: schedules.RunKind) -> Submission:
    template = doc["job"]
    labels = {**(template.get("labels") or {}), **schedules.run_labels(fire_at, kind)}
    return Submission.model_validate({**template, "labels": labels, "idempotency_key": key})


def recurring(doc: Doc, what: str) -> None:
    if doc.get("kind") == "start_after":
        raise Rejected(409, f"a start_after schedule fires once, after its job; it has no {what}")


async def shown(ctx: Context, doc: Doc) -> ScheduleView:
    """With its next fire times and the states of its latest runs."""
    run_ids = [str(run["job_id"]) for run in doc.get("runs") or []]
    outcomes = await schedules.jobs_outcomes(ctx.db, run_ids)
    return ScheduleView.from_doc(doc, next_fires=schedules.upcoming(doc), outcomes=outcomes)


async def trigger(ctx: Context, schedule_id: str, grant: Grant, body: TriggerRequest) -> TriggerResult:
    doc = await visible_schedule(ctx, schedule_id, grant)
    recurring(doc, "runs to trigger")
    policy = body.overlap or schedules.overlap_of(doc)
    running = await schedules.unfinished(ctx.db, doc)
    buffered = bool(doc.get("buffered"))
    action = on_fire(policy, bool(running), buffered)
    now = schedules.ms(time.time())
    # A trigger is a new run each time it is asked, never a fire time's: its own key.
    key = f"schedule:{schedule_id}:manual:{uuid.uuid4().hex}"
    if action is Action.SKIP:
        reason = skip_reason(policy, running, buffered)
        await schedules.record_skip(ctx.db, schedule_id, schedules.skip_entry(now, reason, "manual"))
        raise Rejected(409, f"not started: {reason}; pass overlap allow to start it anyway")
    if action is Action.BUFFER:
        if not await schedules.keep_buffer(ctx.db, schedule_id, {"at": now, "key": key, "kind": "manual"}):
            raise Rejected(409, "not started: a fire is already waiting for the previous run to end")
        return TriggerResult(schedule_id=schedule_id, started=False, buffered=True, job_id=None, cancelled=[])
    cancelled: list[str] = []
    if action is Action.CANCEL_AND_START:
        for other in running:
            await cancelling.cancel(ctx.db, ctx.admitter.bus, other)
            cancelled.append(other)
    try:
        sub = submission(doc, key, now, "manual")
    except ValueError as exc:
        raise Rejected(409, f"the schedule's job template is no longer valid: {exc}") from exc
    result = await ctx.admitter.admit(
        sub, schedule_id=schedule_id, last_completed_at=doc.get("last_completed_at")
    )
    await schedules.record_runs(ctx.db, schedule_id, [schedules.run_entry(result.id, now, "manual")])
    return TriggerResult(
        schedule_id=schedule_id, started=True, buffered=False, job_id=result.id, cancelled=cancelled
    )


async def backfill(ctx: Context, schedule_id: str, grant: Grant, body: BackfillRequest) -> BackfillResult:
    doc = await visible_schedule(ctx, schedule_id, grant)
    recurring(doc, "fire times to backfill")
    lo, hi = body.from_.timestamp(), body.to.timestamp()
    if hi > time.time():
        raise Rejected(422, "to is in the future: a backfill runs fire times that have passed")
    cadence = schedules.cadence_of(doc)
    offset = float(doc.get("jitter_offset") or 0.0)
    try:
        # CPU work (a croniter step per fire time): off the event loop.
        times = await asyncio.to_thread(fires_between, cadence, lo + offset, hi + offset, MAX_BACKFILL)
    except TooManyFires as exc:
        raise Rejected(422, f"the range holds {exc}: at most {MAX_BACKFILL}; split it") from exc
    previous = await asyncio.to_thread(lambda: [cadence.previous(t) for t in times])
    job_ids: list[str] = []
    runs: list[Doc] = []
    duplicates = 0
    for at, before in zip(times, previous, strict=True):
        at = schedules.ms(at)
        try:
            sub = submission(doc, schedules.fire_key(schedule_id, at), schedules.nominal(doc, at), "backfill")
        except ValueError as exc:
            raise Rejected(409, f"the schedule's job template is no longer valid: {exc}") from exc
        # Each run as if the one before it had completed on time: it covers its own period.
        result = await ctx.admitter.admit(
            sub, schedule_id=schedule_id, last_completed_at=schedules.nominal(doc, before)
        )
        job_ids.append(result.id)
        if result.duplicate:
            duplicates += 1
        else:
            runs.append(schedules.run_entry(result.id, at, "backfill"))
    await schedules.record_runs(ctx.db, schedule_id, runs)
    return BackfillResult(
        schedule_id=schedule_id,
        fire_times=[d for d in (utc(schedules.nominal(doc, t)) for t in times) if d is not None],
        job_ids=job_ids,
        duplicates=duplicates,
    )
