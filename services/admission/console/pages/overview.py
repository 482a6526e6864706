"""The overview: lanes with their oldest queued job, and jobs ended per minute."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from laneyard.services.admission import status_report
from laneyard.services.admission.console import reads
from laneyard.services.admission.console.pages.common import Console, Visit
from laneyard.services.admission.console.throughput import per_minute
from laneyard.services.admission.grants import Grant


def router(console: Console) -> APIRouter:
    ui = console.router()
    ctx = console.ctx
    as_reader = Depends(console.reader)

    async def overview_values(grant: Grant) -> dict[str, Any]:
        now = time.time()
        status = await status_report.build(ctx, grant)
        lanes = []
        for row in status.lanes[:200]:
            oldest = await reads.oldest_queued(ctx.db, row.lane, row.cluster)
            lanes.append({"row": row, "oldest_age": None if oldest is None else now - oldest})
        ends = await reads.recent_ends(ctx.db, now, grant.job_filter())
        minutes = per_minute(ends, now)
        return {
            "status": status,
            "lanes": lanes,
            "minutes": minutes,
            "peak": max([1, *(m.completed + m.failed for m in minutes)]),
            "ends_capped": len(ends) >= reads.MAX_ENDS,
        }

    @ui.get("")
    async def overview(visit: Visit = as_reader) -> Response:
        return visit.render("overview.html", **await overview_values(visit.grant))

    @ui.get("/partials/overview")
    async def overview_partial(visit: Visit = as_reader) -> Response:
        return visit.render("_overview.html", **await overview_values(visit.grant))

    return ui
