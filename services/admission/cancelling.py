"""Cancelling a job, as ``POST /v1/jobs/{id}/cancel`` and the console's cancel button both do it."""

from __future__ import annotations

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared import cancelling
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Doc
from laneyard.shared.views.jobs import CancelResult


async def visible_job(ctx: Context, job_id: str, grant: Grant) -> Doc:
    """The job, if this key may see it: another tenant's job is as unknown as a missing one."""
    doc = await jobs.get(ctx.db, job_id)
    if doc is None or not grant.covers(doc.get("lane"), doc.get("cluster")):
        raise Rejected(404, f"no job {job_id!r}")
    return doc


async def cancel_job(ctx: Context, job_id: str, grant: Grant) -> CancelResult:
    """A queued job is cancelled at once; a running one is asked to stop (``cancel_requested``).
    The cancelling itself is ``shared.cancelling``'s, which a schedule's ``cancel_other`` uses too."""
    await visible_job(ctx, job_id, grant)
    done = await cancelling.cancel(ctx.db, ctx.admitter.bus, job_id)
    if done.missing:
        raise Rejected(404, f"no job {job_id!r}")
    if done.already_ended:
        raise Rejected(409, f"job {job_id!r} is already {done.state}; only unfinished jobs can be cancelled")
    if done.state is None:
        raise Rejected(409, f"job {job_id!r} kept changing state; try again")
    return CancelResult(id=job_id, state=done.state, cancel_requested=done.requested)
