"""Rates by job key: jobs whose concurrency or fairness key has a rate are admitted at that pace,
across lanes and admission replicas; the rest wait in RabbitMQ, never refused."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from laneyard.services.admission import cluster_changes
from laneyard.services.admission.routes import Context
from laneyard.shared.throttling.key_rates import NAME_PATTERN
from laneyard.shared.views.key_rates import KeyRateBody, KeyRates, KeyRateSet

KeyPath = Annotated[
    str, Path(pattern=NAME_PATTERN, description="a concurrency or fairness key, or a prefix ending in *")
]


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/rates", tags=["throttles"])
    as_reader = [Depends(ctx.auth.require("read"))]
    admin_scope = [Depends(ctx.auth.require("admin"))]

    @api.get("", response_model=KeyRates, dependencies=as_reader)
    async def key_rates() -> KeyRates:
        """The key rates in force: settings, overridden by those set through this API. Keys belong to
        no lane or cluster, so every reader sees them all."""
        ctx.rates.invalidate()
        rates = await ctx.rates.effective()
        return KeyRates(
            rates=dict(sorted(rates["key"].items())), window_seconds=ctx.settings.throttle_window_seconds
        )

    @api.put("/{key}", response_model=KeyRateSet, dependencies=admin_scope)
    async def put_key_rate(key: KeyPath, body: KeyRateBody) -> KeyRateSet:
        """Holds jobs with this concurrency or fairness key to ``per_second``, over every lane."""
        await cluster_changes.set_rate(ctx, "key", key, body.per_second)
        return KeyRateSet(key=key, per_second=body.per_second)

    @api.delete("/{key}", status_code=204, dependencies=admin_scope)
    async def delete_key_rate(key: KeyPath) -> Response:
        """Back to the rate in the settings (or none)."""
        await cluster_changes.set_rate(ctx, "key", key, None)
        return Response(status_code=204)

    return api
