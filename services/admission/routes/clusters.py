"""Clusters: create (the slug is made from the name), list, get, delete when idle."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, StringConstraints

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.job_view import iso
from laneyard.services.admission.routes import Context
from laneyard.shared.store import clusters
from laneyard.shared.store.database import Doc


class ClusterCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def cluster_view(doc: Doc) -> dict[str, Any]:
    return {"slug": doc["_id"], "name": doc.get("name"), "created_at": iso(doc.get("created_at"))}


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/clusters", tags=["clusters"])
    read_scope = [Depends(ctx.auth.require("read"))]
    admin_scope = [Depends(ctx.auth.require("admin"))]

    @api.post("", status_code=201, dependencies=admin_scope)
    async def create(body: ClusterCreate) -> dict[str, Any]:
        """The slug is the name made URL-safe plus four random characters, e.g. ``gpu-farm-3kq9``."""
        return cluster_view(await clusters.create(ctx.db, body.name))

    @api.get("", dependencies=read_scope)
    async def list_clusters() -> dict[str, Any]:
        return {"clusters": [cluster_view(d) for d in await clusters.all_clusters(ctx.db)]}

    @api.get("/{slug}", dependencies=read_scope)
    async def get(slug: str) -> dict[str, Any]:
        doc = await clusters.get(ctx.db, slug)
        if doc is None:
            raise Rejected(404, f"unknown cluster {slug!r}")
        return cluster_view(doc)

    @api.delete("/{slug}", status_code=204, dependencies=admin_scope)
    async def delete(slug: str) -> Response:
        """Refused (409) while the cluster has queued or running jobs; ``default`` is never deleted."""
        if slug == clusters.DEFAULT:
            raise Rejected(409, "the default cluster cannot be deleted")
        try:
            found = await clusters.delete(ctx.db, slug)
        except clusters.ClusterBusy as exc:
            raise Rejected(
                409, f"{exc}; cancel them or wait for them to finish before deleting the cluster"
            ) from exc
        if not found:
            raise Rejected(404, f"unknown cluster {slug!r}")
        ctx.admitter.forget_cluster(slug)
        return Response(status_code=204)

    return api
