"""Which events one stream carries: what its key's grant covers, narrowed by the request's filters."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from laneyard.services.admission.grants import Grant
from laneyard.shared.store.database import Doc


@dataclass(frozen=True)
class EventFilter:
    grant: Grant
    lanes: frozenset[str] = frozenset()  # empty: any
    clusters: frozenset[str] = frozenset()
    tasks: frozenset[str] = frozenset()
    job_ids: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)

    def refusal(self) -> str | None:
        """Why the key may not ask for this (a lane or cluster outside its grant); None if it may."""
        outside = [lane for lane in self.lanes if not self.grant.covers_lane(lane)]
        outside += [c for c in self.clusters if not self.grant.covers_cluster(c)]
        if outside:
            return f"this API key may not read events of {sorted(outside)[0]!r}"
        return None

    def matches(self, event: Doc) -> bool:
        lane, cluster = event.get("lane"), event.get("cluster")
        if not self.grant.covers(lane, cluster):
            return False
        if self.lanes and lane not in self.lanes:
            return False
        if self.clusters and cluster not in self.clusters:
            return False
        if self.tasks and event.get("task") not in self.tasks:
            return False
        if self.job_ids and event.get("job_id") not in self.job_ids:
            return False
        labels = event.get("labels") or {}
        return all(labels.get(k) == v for k, v in self.labels.items())
