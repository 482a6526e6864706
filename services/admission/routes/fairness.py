"""Fairness weights: how big a share of its lane a fairness key gets, changeable at run time.

Setting a weight is an admin's: a key limited to a lane could otherwise raise its own share over
other tenants' keys in a lane they share. Reading is every reader's, for the lanes its key covers.
"""

from __future__ import annotations

import json
from typing import Annotated

from aio_pika.abc import ExchangeType
from fastapi import APIRouter, Depends, Path, Response

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.routes import Context
from laneyard.shared.store import fairness_weights
from laneyard.shared.views.fairness import FairnessWeight, FairnessWeights, WeightBody

LanePath = Annotated[str, Path(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")]
KeyPath = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")]


def router(ctx: Context) -> APIRouter:
    api = APIRouter(prefix="/v1/fairness", tags=["fairness"])
    as_reader = Depends(ctx.auth.require("read"))
    admin_scope = [Depends(ctx.auth.require("admin"))]

    async def tell_dispatchers(lane: str) -> None:
        # Dispatchers re-read the weights at once instead of at their next refresh.
        bus = ctx.admitter.bus
        body = json.dumps({"type": "fairness", "lane": lane}).encode()
        await bus.publish(bus.names.control_exchange, ExchangeType.FANOUT, body, transient=True)

    @api.get("", response_model=FairnessWeights)
    async def list_weights(grant: Grant = as_reader) -> FairnessWeights:
        """Every key given a weight, in the lanes this API key covers."""
        weights = await fairness_weights.all_weights(ctx.db)
        return FairnessWeights(
            weights=[
                FairnessWeight(lane=lane, key=key, weight=weight)
                for (lane, key), weight in sorted(weights.items())
                if grant.covers_lane(lane)
            ]
        )

    @api.put("/{lane}/{key}", response_model=FairnessWeight, dependencies=admin_scope)
    async def put_weight(lane: LanePath, key: KeyPath, body: WeightBody) -> FairnessWeight:
        await fairness_weights.put(ctx.db, lane, key, body.weight)
        await tell_dispatchers(lane)
        return FairnessWeight(lane=lane, key=key, weight=body.weight)

    @api.delete("/{lane}/{key}", status_code=204, dependencies=admin_scope)
    async def delete_weight(lane: LanePath, key: KeyPath) -> Response:
        """Back to weight 1."""
        if not await fairness_weights.remove(ctx.db, lane, key):
            raise Rejected(404, f"fairness key {key!r} of lane {lane!r} has no weight set")
        await tell_dispatchers(lane)
        return Response(status_code=204)

    return api
