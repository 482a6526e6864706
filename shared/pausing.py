"""Pauses: lanes that keep accepting jobs but dispatch none, until resumed. Pure, no I/O.

A pause names a lane of one cluster, a lane on every cluster, or a whole cluster (a drain: every
lane of it). Jobs of a held lane wait in its queue in RabbitMQ; running jobs are not touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Pause:
    lane: str | None  # None: every lane of the cluster
    cluster: str | None  # None: the lane on every cluster
    paused_at: float = 0.0

    @property
    def id(self) -> str:
        return pause_id(self.lane, self.cluster)

    def holds(self, lane: str, cluster: str) -> bool:
        return (self.lane is None or self.lane == lane) and (self.cluster is None or self.cluster == cluster)


def pause_id(lane: str | None, cluster: str | None) -> str:
    """The document id of a pause; lane and cluster slugs hold no ``@`` or ``:``."""
    if lane is None and cluster is None:
        raise ValueError("a pause names a lane, a cluster or both")
    if lane is None:
        return f"cluster:{cluster}"
    return f"lane:{lane}@{cluster or '*'}"


@dataclass(frozen=True)
class Pauses:
    items: tuple[Pause, ...] = ()

    @classmethod
    def of_docs(cls, docs: Iterable[Mapping[str, Any]]) -> Pauses:
        found = [
            Pause(d.get("lane") or None, d.get("cluster") or None, float(d.get("paused_at") or 0))
            for d in docs
            if d.get("lane") or d.get("cluster")
        ]
        return cls(tuple(sorted(found, key=lambda p: p.id)))

    def holds(self, lane: str, cluster: str) -> bool:
        """Whether the lane of the cluster dispatches nothing now."""
        return any(p.holds(lane, cluster) for p in self.items)

    def cluster_paused(self, cluster: str) -> bool:
        """Whether the whole cluster is drained (paused as a cluster, not lane by lane)."""
        return any(p.lane is None and p.cluster == cluster for p in self.items)

    def __bool__(self) -> bool:
        return bool(self.items)
