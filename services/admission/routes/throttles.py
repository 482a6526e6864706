"""Throttles: the admission rate of lanes and clusters, in jobs per second, changeable at run time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from laneyard.services.admission import cluster_changes
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.views.throttles import RateBody, RateSet, Throttles

NamePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/throttles", tags=["throttles"])
    as_reader = Depends(ctx.auth.require("read"))
    admin_scope = [Depends(ctx.auth.require("admin"))]

    @api.get("", response_model=Throttles)
    async def effective(grant: Grant = as_reader) -> Throttles:
        """The rates in force: settings, overridden by those set through this API. A key limited to
        lanes or clusters sees only theirs."""
        ctx.rates.invalidate()
        rates = await ctx.rates.effective()
        return Throttles(
            lanes={lane: r for lane, r in rates["lane"].items() if grant.covers_lane(lane)},
            clusters={slug: r for slug, r in rates["cluster"].items() if grant.covers_cluster(slug)},
            window_seconds=ctx.settings.throttle_window_seconds,
        )

    async def put(kind: str, name: str, body: RateBody) -> RateSet:
        await cluster_changes.set_rate(ctx, kind, name, body.rate)
        return RateSet(kind=kind, name=name, rate=body.rate)

    async def remove(kind: str, name: str) -> Response:
        await cluster_changes.set_rate(ctx, kind, name, None)
        return Response(status_code=204)

    @api.put("/lanes/{lane}", response_model=RateSet, dependencies=admin_scope)
    async def put_lane(lane: NamePath, body: RateBody) -> RateSet:
        return await put("lane", lane, body)

    @api.put("/clusters/{slug}", response_model=RateSet, dependencies=admin_scope)
    async def put_cluster(slug: NamePath, body: RateBody) -> RateSet:
        return await put("cluster", slug, body)

    @api.delete("/lanes/{lane}", status_code=204, dependencies=admin_scope)
    async def delete_lane(lane: NamePath) -> Response:
        """Back to the rate in the settings (or none)."""
        return await remove("lane", lane)

    @api.delete("/clusters/{slug}", status_code=204, dependencies=admin_scope)
    async def delete_cluster(slug: NamePath) -> Response:
        return await remove("cluster", slug)

    return api
