"""Clusters: create (the slug is made from the name), list, get, delete when idle."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from laneyard.services.admission import cluster_changes
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.refusal_docs import refusals
from laneyard.services.admission.routes import Context
from laneyard.shared.store import clusters
from laneyard.shared.views.clusters import ClusterCreate, ClusterList, ClusterView


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/clusters", tags=["clusters"])
    as_reader = Depends(ctx.auth.require("read"))
    admin_scope = [Depends(ctx.auth.require("admin"))]

    @api.post("", status_code=201, response_model=ClusterView, dependencies=admin_scope)
    async def create(body: ClusterCreate) -> ClusterView:
        """The slug is the name made URL-safe plus four random characters, e.g. ``gpu-farm-3kq9``."""
        return ClusterView.from_doc(await clusters.create(ctx.db, body.name))

    @api.get("", response_model=ClusterList)
    async def list_clusters(grant: Grant = as_reader) -> ClusterList:
        """A key limited to clusters sees only those."""
        found = [d for d in await clusters.all_clusters(ctx.db) if grant.covers_cluster(str(d["_id"]))]
        return ClusterList(clusters=[ClusterView.from_doc(d) for d in found])

    @api.get("/{slug}", response_model=ClusterView, responses=refusals(404))
    async def get(slug: str, grant: Grant = as_reader) -> ClusterView:
        doc = await clusters.get(ctx.db, slug) if grant.covers_cluster(slug) else None
        if doc is None:
            raise Rejected(404, f"unknown cluster {slug!r}")
        return ClusterView.from_doc(doc)

    @api.delete("/{slug}", status_code=204, dependencies=admin_scope, responses=refusals(404, 409))
    async def delete(slug: str) -> Response:
        """Refused (409) while the cluster has queued or running jobs; ``default`` is never deleted."""
        await cluster_changes.delete_cluster(ctx, slug)
        return Response(status_code=204)

    return api
