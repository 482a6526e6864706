"""GET /v1/status: queued jobs per lane, runners and capacity per cluster, in the spirit of dispenserd."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from laneyard.services.admission import status_report
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.views.status import Status


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["status"])
    as_reader = Depends(ctx.auth.require("read"))

    # Unset fields are left out so that a lane without an intake queue shows no ``throttled`` at all,
    # as before these were models: readers such as the CLI show the key's absence, not a null.
    @api.get(
        "/status",
        response_model=Status,
        response_model_exclude_unset=True,
    )
    async def status(grant: Grant = as_reader) -> Status:
        """``queued`` is what waits in the lane queue; ``throttled`` what waits in its intake queue.
        A key limited to lanes or clusters sees only those."""
        return await status_report.build(ctx, grant)

    return api
