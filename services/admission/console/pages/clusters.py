"""Clusters and rates: the list with each lane's and cluster's rate, creating and deleting a
cluster, and setting a rate."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from laneyard.services.admission import cluster_changes, status_report
from laneyard.services.admission.console.forms import parse_rate
from laneyard.services.admission.console.pages.common import Console, Visit, back
from laneyard.services.admission.errors import Rejected
from laneyard.shared.store import clusters


def router(console: Console) -> APIRouter:
    ui = console.router()
    ctx = console.ctx
    as_reader = Depends(console.reader)
    as_cluster_admin = Depends(console.writer("cluster"))
    as_rate_setter = Depends(console.writer("rate"))

    @ui.get("/clusters")
    async def clusters_page(visit: Visit = as_reader) -> Response:
        grant = visit.grant
        found = [d for d in await clusters.all_clusters(ctx.db) if grant.covers_cluster(str(d["_id"]))]
        ctx.rates.invalidate()
        rates = await ctx.rates.effective()
        status = await status_report.build(ctx, grant)
        return visit.render(
            "clusters.html",
            clusters=found,
            status=status,
            lane_rates={k: v for k, v in rates["lane"].items() if grant.covers_lane(k)},
            cluster_rates={k: v for k, v in rates["cluster"].items() if grant.covers_cluster(k)},
        )

    @ui.post("/clusters")
    async def create_cluster(visit: Visit = as_cluster_admin) -> Response:
        name = visit.form.get("name", "").strip()
        if not 1 <= len(name) <= 200:
            raise Rejected(400, "a cluster's name is 1 to 200 characters")
        await clusters.create(ctx.db, name)
        return back("/ui/clusters", "created")

    @ui.post("/clusters/{slug}/delete")
    async def delete_cluster(slug: str, visit: Visit = as_cluster_admin) -> Response:
        await cluster_changes.delete_cluster(ctx, slug)
        return back("/ui/clusters", "deleted")

    @ui.post("/rates")
    async def set_rate(visit: Visit = as_rate_setter) -> Response:
        form = visit.form
        kind, name, raw = form.get("kind", ""), form.get("name", "").strip(), form.get("rate", "").strip()
        try:
            rate = parse_rate(kind, name, raw)
        except ValueError as exc:
            raise Rejected(400, str(exc)) from exc
        await cluster_changes.set_rate(ctx, kind, name, rate)
        return back("/ui/clusters", "rate")

    return ui
