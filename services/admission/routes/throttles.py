"""Throttles: the admission rate of lanes and clusters, in jobs per second, changeable at run time."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response
from pydantic import BaseModel, ConfigDict, Field

from laneyard.services.admission.routes import Context
from laneyard.shared.store import throttle

NamePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]


class RateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rate: float = Field(ge=0, le=1_000_000, description="jobs per second; 0 holds every job back")


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/throttles", tags=["throttles"])
    read_scope = [Depends(ctx.auth.require("read"))]
    admin_scope = [Depends(ctx.auth.require("admin"))]

    @api.get("", dependencies=read_scope)
    async def effective() -> dict[str, Any]:
        """The rates in force: settings, overridden by those set through this API."""
        ctx.rates.invalidate()
        rates = await ctx.rates.effective()
        return {
            "lanes": rates["lane"],
            "clusters": rates["cluster"],
            "window_seconds": ctx.settings.throttle_window_seconds,
        }

    async def put(kind: str, name: str, body: RateBody) -> dict[str, Any]:
        await throttle.set_rate(ctx.db, kind, name, body.rate)
        ctx.rates.invalidate()
        return {"kind": kind, "name": name, "rate": body.rate}

    async def remove(kind: str, name: str) -> Response:
        await throttle.clear_rate(ctx.db, kind, name)
        ctx.rates.invalidate()
        return Response(status_code=204)

    @api.put("/lanes/{lane}", dependencies=admin_scope)
    async def put_lane(lane: NamePath, body: RateBody) -> dict[str, Any]:
        return await put("lane", lane, body)

    @api.put("/clusters/{slug}", dependencies=admin_scope)
    async def put_cluster(slug: NamePath, body: RateBody) -> dict[str, Any]:
        return await put("cluster", slug, body)

    @api.delete("/lanes/{lane}", status_code=204, dependencies=admin_scope)
    async def delete_lane(lane: NamePath) -> Response:
        """Back to the rate in the settings (or none)."""
        return await remove("lane", lane)

    @api.delete("/clusters/{slug}", status_code=204, dependencies=admin_scope)
    async def delete_cluster(slug: NamePath) -> Response:
        return await remove("cluster", slug)

    return api
