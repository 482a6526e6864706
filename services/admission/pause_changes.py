"""Pausing and resuming lanes and clusters, as the routes do it: stored, then told to dispatchers."""

from __future__ import annotations

import json

from aio_pika.abc import ExchangeType

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.routes import Context
from laneyard.shared.store import clusters, pauses
from laneyard.shared.views.pauses import PauseView


async def change(ctx: Context, lane: str | None, cluster: str | None, paused: bool) -> PauseView:
    """Pauses (or resumes) ``lane`` of ``cluster``; either may be None (every lane, every cluster)."""
    if cluster is not None and await clusters.get(ctx.db, cluster) is None:
        raise Rejected(404, f"unknown cluster {cluster!r}")
    if paused:
        at: float | None = await pauses.pause(ctx.db, lane, cluster)
    else:
        await pauses.resume(ctx.db, lane, cluster)
        at = None
    # Dispatchers re-read the pauses at once; without the notice they would within a few seconds.
    bus = ctx.admitter.bus
    await bus.publish(
        bus.names.control_exchange,
        ExchangeType.FANOUT,
        json.dumps({"type": "pause"}).encode(),
        transient=True,
    )
    return PauseView(lane=lane, cluster=cluster, paused=paused, paused_at=at)
