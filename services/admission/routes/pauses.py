"""Pausing: a paused lane keeps accepting jobs but dispatches none until resumed; running jobs go on.
A paused cluster (a drain) holds back every lane of it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from laneyard.services.admission import pause_access, pause_changes
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.store import pauses
from laneyard.shared.views.pauses import PauseList, PauseView

SLUG = r"^[a-z0-9][a-z0-9_-]{0,62}$"
LanePath = Annotated[str, Path(pattern=SLUG, description="the lane")]
SlugPath = Annotated[str, Path(pattern=SLUG, description="the cluster's slug")]
ClusterQuery = Annotated[
    str | None, Query(pattern=SLUG, description="the lane's cluster; left out: the lane on every cluster")
]


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1", tags=["pauses"])
    as_reader = Depends(ctx.auth.require("read"))
    as_submitter = Depends(ctx.auth.require("submit"))
    admin_scope = [Depends(ctx.auth.require("admin"))]

    @api.get("/pauses", response_model=PauseList)
    async def list_pauses(grant: Grant = as_reader) -> PauseList:
        """Every pause in force. A key limited to lanes or clusters sees only those on its own."""
        found = await pauses.load(ctx.db)
        return PauseList(
            pauses=[
                PauseView(lane=p.lane, cluster=p.cluster, paused=True, paused_at=p.paused_at)
                for p in found.items
                if pause_access.visible(grant, p.lane, p.cluster)
            ]
        )

    async def lane_change(grant: Grant, lane: str, cluster: str | None, paused: bool) -> PauseView:
        why = pause_access.refusal(grant, lane, cluster)
        if why is not None:
            raise Rejected(403, why)
        return await pause_changes.change(ctx, lane, cluster, paused)

    @api.post("/lanes/{lane}/pause", response_model=PauseView)
    async def pause_lane(
        lane: LanePath, cluster: ClusterQuery = None, grant: Grant = as_submitter
    ) -> PauseView:
        """The lane (of ``cluster``, else of every cluster) keeps accepting jobs but dispatches none;
        running jobs go on. Pausing twice is the same pause."""
        return await lane_change(grant, lane, cluster, True)

    @api.post("/lanes/{lane}/resume", response_model=PauseView)
    async def resume_lane(
        lane: LanePath, cluster: ClusterQuery = None, grant: Grant = as_submitter
    ) -> PauseView:
        """Lifts the pause made with the same ``cluster``; a pause of the whole cluster still holds."""
        return await lane_change(grant, lane, cluster, False)

    @api.post("/clusters/{slug}/pause", response_model=PauseView, dependencies=admin_scope)
    async def pause_cluster(slug: SlugPath) -> PauseView:
        """Drains the cluster: every lane of it keeps accepting jobs but dispatches none, and its
        running jobs finish."""
        return await pause_changes.change(ctx, None, slug, True)

    @api.post("/clusters/{slug}/resume", response_model=PauseView, dependencies=admin_scope)
    async def resume_cluster(slug: SlugPath) -> PauseView:
        """Ends the drain; pauses of single lanes still hold."""
        return await pause_changes.change(ctx, None, slug, False)

    return api
