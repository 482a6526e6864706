"""Concurrency limits: at most ``max_running`` jobs of a concurrency key run at once, over every
cluster; the jobs over it wait in RabbitMQ (parked by the dispatcher), never refused.

Setting a limit is an admin's (a tenant's key could otherwise lift its own bound); reading is every
reader's, since keys belong to no lane or cluster.
"""

from __future__ import annotations

import json
from typing import Annotated

from aio_pika.abc import ExchangeType
from fastapi import APIRouter, Depends, Path, Response

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.routes import Context
from laneyard.shared.concurrency_limits import NAME_PATTERN, in_force, limit_for
from laneyard.shared.store import concurrency_overrides, concurrency_slots
from laneyard.shared.views.concurrency import ConcurrencyView, KeyUse, LimitBody, LimitSet

KeyPath = Annotated[str, Path(pattern=NAME_PATTERN, description="a concurrency key, or a prefix ending in *")]
MAX_LISTED = 1000


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/concurrency", tags=["concurrency"])
    as_reader = [Depends(ctx.auth.require("read"))]
    admin_scope = [Depends(ctx.auth.require("admin"))]

    async def tell_dispatchers() -> None:
        # Dispatchers re-read the limits at once (a raised limit lets parked jobs go) instead of
        # at their next refresh.
        bus = ctx.admitter.bus
        body = json.dumps({"type": "concurrency"}).encode()
        await bus.publish(bus.names.control_exchange, ExchangeType.FANOUT, body, transient=True)

    @api.get("", response_model=ConcurrencyView, dependencies=as_reader)
    async def concurrency() -> ConcurrencyView:
        """The limits in force, and the keys holding slots (running counts) or with parked jobs."""
        limits = in_force(ctx.settings.concurrency_limits, await concurrency_overrides.all_limits(ctx.db))
        used = [s for s in await concurrency_slots.everything(ctx.db) if s.running or s.parked]
        keys = [
            KeyUse(key=s.key, running=s.running, max_running=limit_for(s.key, limits), parked=s.parked)
            for s in sorted(used, key=lambda s: s.key)[:MAX_LISTED]
        ]
        return ConcurrencyView(limits=dict(sorted(limits.items())), keys=keys)

    @api.put("/{key}", response_model=LimitSet, dependencies=admin_scope)
    async def put_limit(key: KeyPath, body: LimitBody) -> LimitSet:
        """At most ``max_running`` jobs with this key (or each key of this prefix) run at once."""
        await concurrency_overrides.put(ctx.db, key, body.max_running)
        await tell_dispatchers()
        return LimitSet(key=key, max_running=body.max_running)

    @api.delete("/{key}", status_code=204, dependencies=admin_scope)
    async def delete_limit(key: KeyPath) -> Response:
        """Back to the limit in the settings (or none)."""
        if not await concurrency_overrides.remove(ctx.db, key):
            raise Rejected(404, f"concurrency key {key!r} has no limit set through the API")
        await tell_dispatchers()
        return Response(status_code=204)

    return api
