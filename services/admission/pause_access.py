"""Who may pause or resume what: a key may touch only lanes it covers, and a lane on every cluster
only when it is limited to no clusters. Pure, no I/O."""

from __future__ import annotations

from laneyard.services.admission.grants import Grant


def refusal(grant: Grant, lane: str, cluster: str | None) -> str | None:
    """Why ``grant`` may not pause or resume ``lane`` (of ``cluster``, or of every cluster), or None."""
    if not grant.covers_lane(lane):
        return f"this API key may not pause or resume lane {lane!r}"
    if cluster is None:
        if grant.clusters is not None:
            return (
                f"this API key may not pause or resume lane {lane!r} on every cluster; "
                "name one of its clusters with ?cluster="
            )
        return None
    if not grant.covers_cluster(cluster):
        return f"this API key may not pause or resume lane {lane!r} of cluster {cluster!r}"
    return None


def visible(grant: Grant, lane: str | None, cluster: str | None) -> bool:
    """Whether a pause shows to ``grant``: one on its lanes of its clusters, or on a cluster of its."""
    if lane is not None and not grant.covers_lane(lane):
        return False
    return cluster is None or grant.covers_cluster(cluster)
