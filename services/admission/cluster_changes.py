"""Deleting a cluster and setting a lane's or cluster's rate, as the routes and the console do it."""

from __future__ import annotations

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.routes import Context
from laneyard.shared.store import clusters, throttle


async def delete_cluster(ctx: Context, slug: str) -> None:
    """Refused (409) while the cluster has queued or running jobs; ``default`` is never deleted."""
    if slug == clusters.DEFAULT:
        raise Rejected(409, "the default cluster cannot be deleted")
    try:
        found = await clusters.delete(ctx.db, slug)
    except clusters.ClusterBusy as exc:
        why = f"{exc}; cancel them or wait for them to finish before deleting the cluster"
        raise Rejected(409, why) from exc
    if not found:
        raise Rejected(404, f"unknown cluster {slug!r}")
    ctx.admitter.forget_cluster(slug)


async def set_rate(ctx: Context, kind: str, name: str, rate: float | None) -> None:
    """``kind`` is ``lane`` or ``cluster``; ``None`` goes back to the rate in the settings (or none)."""
    if rate is None:
        await throttle.clear_rate(ctx.db, kind, name)
    else:
        await throttle.set_rate(ctx.db, kind, name, rate)
    ctx.rates.invalidate()
