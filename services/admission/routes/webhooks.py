"""Webhooks: lane subscriptions, and the deliveries of a job's end (docs/webhooks.md)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from laneyard.services.admission import cancelling
from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.refusal_docs import refusals
from laneyard.services.admission.routes import Context
from laneyard.shared.store import webhooks
from laneyard.shared.store.database import Doc
from laneyard.shared.views.webhooks import DeliveryList, DeliveryView, WebhookCreate, WebhookList, WebhookView
from laneyard.shared.webhooks.config import WebhookConfig, url_refusal


def covers(grant: Grant, doc: Doc) -> bool:
    """A subscription for any cluster is seen only by keys not limited to clusters."""
    cluster = doc.get("cluster")
    if cluster is None:
        return grant.clusters is None and grant.covers_lane(str(doc.get("lane")))
    return grant.covers(doc.get("lane"), cluster)


def router(ctx: Context) -> APIRouter:
    api = APIRouter(tags=["webhooks"])
    as_submitter = Depends(ctx.auth.require("submit"))
    as_reader = Depends(ctx.auth.require("read"))
    config = WebhookConfig.of(ctx.settings)

    async def existing(webhook_id: str, grant: Grant) -> Doc:
        doc = await webhooks.subscription(ctx.db, webhook_id)
        if doc is None or not covers(grant, doc):
            raise Rejected(404, f"no webhook {webhook_id!r}")
        return doc

    @api.post("/v1/webhooks", status_code=201, response_model=WebhookView, responses=refusals(403, 409))
    async def create(body: WebhookCreate, grant: Grant = as_submitter) -> WebhookView:
        """Each job of the lane that ends in one of ``events`` is POSTed to ``url``, signed."""
        wanted = {"lane": body.lane, "cluster": body.cluster}
        if not covers(grant, wanted):
            where = f"lane {body.lane!r}" + (
                f" of cluster {body.cluster!r}" if body.cluster else " of every cluster"
            )
            raise Rejected(403, f"this API key may not subscribe to {where}")
        why = url_refusal(body.url, config)
        if why is not None:
            raise Rejected(422, f"url: {why}")
        if await webhooks.count_subscriptions(ctx.db) >= webhooks.MAX_SUBSCRIPTIONS:
            raise Rejected(409, f"there are already {webhooks.MAX_SUBSCRIPTIONS} webhooks; delete some first")
        events = sorted({str(e) for e in body.events})
        if not set(events) <= {"COMPLETED", "ERROR", "CANCELLED"}:
            raise Rejected(422, f"events: only end states (COMPLETED, ERROR, CANCELLED), not {events}")
        return WebhookView.of(await webhooks.subscribe(ctx.db, body.url, events, body.lane, body.cluster))

    @api.get("/v1/webhooks", response_model=WebhookList)
    async def list_webhooks(grant: Grant = as_reader) -> WebhookList:
        docs = await webhooks.subscriptions(ctx.db)
        return WebhookList(webhooks=[WebhookView.of(d) for d in docs if covers(grant, d)])

    @api.get("/v1/webhooks/{webhook_id}", response_model=WebhookView, responses=refusals(404))
    async def get_webhook(webhook_id: str, grant: Grant = as_reader) -> WebhookView:
        return WebhookView.of(await existing(webhook_id, grant))

    @api.delete("/v1/webhooks/{webhook_id}", status_code=204, responses=refusals(404))
    async def delete_webhook(webhook_id: str, grant: Grant = as_submitter) -> Response:
        await existing(webhook_id, grant)
        if not await webhooks.unsubscribe(ctx.db, webhook_id):
            raise Rejected(404, f"no webhook {webhook_id!r}")
        return Response(status_code=204)

    @api.get("/v1/jobs/{job_id}/webhooks", response_model=DeliveryList, responses=refusals(404))
    async def job_deliveries(job_id: str, grant: Grant = as_reader) -> DeliveryList:
        """The job's deliveries, each with its id, state and latest attempts."""
        await cancelling.visible_job(ctx, job_id, grant)
        return DeliveryList(deliveries=[DeliveryView.of(d) for d in await webhooks.of_job(ctx.db, job_id)])

    return api
