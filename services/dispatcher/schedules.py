"""The schedule loop: submits the jobs of due schedules, on the dispatcher that holds the lease.

Jobs go through admission's own ``Admitter`` (lane declared and registered, throttled lanes sent
to their intake queue, published before the job document is written), so a scheduled job is
admitted exactly like a submitted one. Exactly-once per fire time comes from the store
(``shared.store.schedules``): a lease changing hands mid-tick can make two dispatchers fire the
same schedule, and they then get the same job.

Each tick first settles the schedules' open jobs (one ``_id: {$in}`` lookup per schedule, never a
scan of jobs), so a job fired in that tick carries its schedule's latest ``last_completed_at``;
then starts the fires ``buffer_one`` kept whose previous run has ended; then fires what is due,
each as its catch-up plan and overlap policy say (``shared.schedule_times.plan_fire``,
``shared.schedule_overlap.on_fire``). ``cancel_other`` cancels through ``shared.cancelling``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from pydantic import ValidationError

from laneyard.shared import cancelling
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.admitting.refusal import NotAdmitted
from laneyard.shared.models import Submission
from laneyard.shared.schedule_overlap import Action, on_fire, skip_reason
from laneyard.shared.schedule_times import plan_fire
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store import schedules
from laneyard.shared.store.database import Database, Doc

log = logging.getLogger(__name__)

TICK_SECONDS = 0.5
# Bounded work per tick: the rest of a backlog is due again at the next tick.
MAX_PER_TICK = 100
# How often a start_after schedule looks at its job again while that job runs.
START_AFTER_POLL_SECONDS = 1.0
# A job id pushed by a fire but absent from jobs this long after (deleted) stops being watched.
MISSING_JOB_SECONDS = 60.0


def completion_stamp(job: Doc) -> float:
    """When the job completed: its timeline's COMPLETED stamp for its final attempt."""
    stamps = (job.get("timeline") or {}).get(str(job.get("attempt") or 1)) or {}
    stamp = stamps.get(str(JobState.COMPLETED), job.get("updated_at"))
    return float(stamp or 0.0)


class ScheduleLoop:
    def __init__(
        self, admitter: Admitter, db: Database, held: Callable[[], bool], tick_timeout: float
    ) -> None:
        self.admitter = admitter
        self.db = db
        self.held = held
        # One tick's whole budget: every await in it is a database or broker call with its own
        # timeout, this bounds a tick that makes many of them.
        self.tick_timeout = tick_timeout
        self.fired = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), TICK_SECONDS)
            if stop.is_set() or not self.held():
                continue
            try:
                await asyncio.wait_for(self.tick(time.time()), self.tick_timeout)
            except TimeoutError:
                log.warning(
                    "a schedule tick took over %.1f s; the rest is left to the next", self.tick_timeout
                )
            except Exception:
                log.exception("the schedule tick failed; trying again")

    async def tick(self, now: float) -> int:
        """Settles open jobs, then fires what is due; returns how many jobs this tick submitted."""
        for doc in await schedules.watching(self.db, MAX_PER_TICK):
            await self.settle(doc, now)
        fired = 0
        for doc in await schedules.buffered(self.db, MAX_PER_TICK):
            if not self.held():
                break
            try:
                fired += await self.release(doc)
            except Exception:
                log.exception("schedule %s could not start its buffered fire; trying again", doc["_id"])
        for doc in await schedules.due(self.db, now, MAX_PER_TICK):
            if not self.held():
                break  # the lease was lost mid-tick: the new holder takes over from here
            try:
                fired += await self.fire(doc, now)
            except Exception:
                # Left due, to fire (with the same key) next tick; the others are not held up.
                log.exception("schedule %s could not fire; trying again", doc["_id"])
        return fired

    async def settle(self, doc: Doc, now: float) -> None:
        open_ids = [str(i) for i in doc.get("open_jobs") or []]
        if not open_ids:
            await schedules.settle(self.db, doc["_id"], [], None)
            return
        found = {
            job["_id"]: job
            async for job in self.db["jobs"].find(
                {"_id": {"$in": open_ids}},
                projection={"state": True, "attempt": True, "timeline": True, "updated_at": True},
            )
        }
        stale = now - float(doc.get("last_fire_at") or now) > MISSING_JOB_SECONDS
        ended: list[str] = []
        completed: list[float] = []
        for job_id in open_ids:
            job = found.get(job_id)
            if job is None:
                if stale:
                    ended.append(job_id)
                continue
            if job.get("state") in TERMINAL:
                ended.append(job_id)
                if job["state"] == JobState.COMPLETED:
                    completed.append(completion_stamp(job))
        if ended:
            await schedules.settle(self.db, doc["_id"], ended, max(completed, default=None))

    async def fire(self, doc: Doc, now: float) -> int:
        schedule_id = str(doc["_id"])
        fire_at = float(doc["next_run_at"])
        next_run_at: float | None
        finished: str | None = None
        if doc["kind"] == "start_after":
            target = await self.db["jobs"].find_one({"_id": doc["start_after"]}, projection={"state": True})
            state = target.get("state") if target is not None else None
            if target is not None and state not in TERMINAL:
                await schedules.postpone(self.db, schedule_id, fire_at, now + START_AFTER_POLL_SECONDS)
                return 0
            next_run_at = None
            if target is None:
                finished = f"job {doc['start_after']} no longer exists"
            elif doc.get("on") == "completed" and state != JobState.COMPLETED:
                finished = f"job {doc['start_after']} ended {state}, not COMPLETED"
            if finished is not None:
                await schedules.advance(
                    self.db, schedule_id, fire_at, None, job_id=None, finished_reason=finished
                )
                log.info("schedule %s will not fire: %s", schedule_id, finished)
                return 0
            finished = f"fired after job {doc['start_after']} ended {state}"
        else:
            mode, limit = schedules.catch_up_of(doc)
            plan = plan_fire(schedules.cadence_of(doc), fire_at, now, mode, limit)
            next_run_at = plan.next_at
            end_at = doc.get("end_at")
            if end_at is not None and schedules.nominal(doc, next_run_at) > float(end_at):
                next_run_at, finished = None, "its end_at has passed"
            if not plan.fire:
                why = f"missed while no dispatcher fired it, and older than the last {limit} (catch_up_limit)"
                skipped = schedules.skip_entry(fire_at, why)
                await schedules.advance(
                    self.db, schedule_id, fire_at, next_run_at, job_id=None, skipped=skipped, read=doc,
                    finished_reason=finished,
                )  # fmt: skip
                return 0
            policy = schedules.overlap_of(doc)
            running = await schedules.unfinished(self.db, doc)
            action = on_fire(policy, bool(running), bool(doc.get("buffered")))
            if action is Action.SKIP:
                skipped = schedules.skip_entry(
                    fire_at, skip_reason(policy, running, bool(doc.get("buffered")))
                )
                await schedules.advance(
                    self.db, schedule_id, fire_at, next_run_at, job_id=None, skipped=skipped, read=doc,
                    finished_reason=finished,
                )  # fmt: skip
                return 0
            if action is Action.BUFFER:
                buffer = {"at": fire_at, "key": schedules.fire_key(schedule_id, fire_at), "kind": "scheduled"}
                await schedules.advance(
                    self.db, schedule_id, fire_at, next_run_at, job_id=None, buffer=buffer,
                    finished_reason=finished,
                )  # fmt: skip
                return 0
            if action is Action.CANCEL_AND_START:
                # Cancelled before the new run is submitted: a fire repeated after a crash in
                # between finds them cancelled (or asked to stop) and submits the same job.
                for other in running:
                    await cancelling.cancel(self.db, self.admitter.bus, other)

        try:
            job_id, error = await self.submit(
                doc, schedules.fire_key(schedule_id, fire_at), fire_at, "scheduled"
            )
        except ClaimedElsewhere:
            return 0
        won = await schedules.advance(
            self.db,
            schedule_id,
            fire_at,
            next_run_at,
            job_id=job_id,
            error=error,
            finished_reason=finished,
            read=doc,
        )
        if error is not None:
            log.warning("schedule %s could not submit its job: %s", schedule_id, error)
        if not won or job_id is None:
            return 0
        self.fired += 1
        log.debug("schedule %s fired job %s", schedule_id, job_id, extra={"job_id": job_id})
        return 1

    async def release(self, doc: Doc) -> int:
        """Starts the fire ``buffer_one`` kept, once the runs it waited for have all ended."""
        buffer = doc.get("buffer")
        if not buffer:
            return 0
        if await schedules.unfinished(self.db, doc):
            return 0
        try:
            job_id, error = await self.submit(doc, str(buffer["key"]), float(buffer["at"]), buffer["kind"])
        except ClaimedElsewhere:
            return 0
        if error is not None:
            log.warning("schedule %s could not submit its buffered job: %s", doc["_id"], error)
        released = await schedules.release_buffer(self.db, str(doc["_id"]), buffer, job_id, doc)
        if not released or job_id is None:
            return 0
        self.fired += 1
        return 1

    async def submit(
        self, doc: Doc, key: str, fire_at: float, kind: schedules.RunKind
    ) -> tuple[str | None, str | None]:
        """Admits the schedule's job under ``key``: its id, or None and why it was refused for good.
        Raises ClaimedElsewhere if the key is held by a submission that has not recorded its job."""
        schedule_id = str(doc["_id"])
        try:
            template = doc["job"]
            run = schedules.run_labels(schedules.nominal(doc, fire_at), kind)
            labels = {**(template.get("labels") or {}), **run}
            sub = Submission.model_validate({**template, "labels": labels, "idempotency_key": key})
            result = await self.admitter.admit(
                sub, schedule_id=schedule_id, last_completed_at=doc.get("last_completed_at")
            )
            if result.duplicate and not await self.db["jobs"].find_one({"_id": result.id}, {"_id": True}):
                # The key is claimed by a fire still under way elsewhere (or one cut short before
                # publishing, whose claim goes stale): recording it now could record a job that
                # never comes. It stays due; the next tick sees the job, or takes the stale claim.
                raise ClaimedElsewhere(key)
            return result.id, None
        except NotAdmitted as exc:
            # NotAdmitted for good (its cluster was deleted, say): this fire is skipped, and the reason
            # shown on the schedule. A broker or database failure raises instead, to fire again.
            if exc.transient:
                raise
            return None, f"{exc.kind} ({exc.http_status}): {exc.message}"
        except ValidationError as exc:
            first = exc.errors()[0]  # its location and message only: the input may be a secret
            return None, f"the job template is no longer valid: {first['loc']}: {first['msg']}"


class ClaimedElsewhere(Exception):
    """A fire's key is held by a submission that has not recorded its job yet."""
