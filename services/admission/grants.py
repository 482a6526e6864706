"""What one API key may do: its scopes, and the lanes and clusters it is limited to.

A key's line reads ``submit,read lanes=reports,etl clusters=gpu-farm-3kq9``. Without ``lanes=`` a key
covers every lane, without ``clusters=`` every cluster. A limited key is one tenant's key: it can
submit only into its lanes of its clusters, and jobs, logs, schedules and dead letters elsewhere
do not exist for it (404, as for an unknown id, so ids of other tenants' jobs cannot be probed).
``admin`` changes what every tenant shares (clusters, throttles, replays), so it cannot be limited.

``fairness=tenant:acme`` binds the key to a fairness key: its submissions without one get it, and
one naming another is refused, so tenants sharing a lane take turns (docs/fairness.md) and no
tenant can spend another's turns, key rate or concurrency budget by naming its key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeVar

from laneyard.services.admission.errors import Rejected
from laneyard.shared.models import Submission

SCOPES = frozenset({"submit", "read", "admin"})
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")  # a lane or cluster slug, as in shared.models
_FAIRNESS_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]{0,127}$")  # as shared.models.FairnessKey


@dataclass(frozen=True)
class Grant:
    scopes: frozenset[str]
    lanes: frozenset[str] | None = None
    clusters: frozenset[str] | None = None
    fairness_key: str | None = None

    @classmethod
    def everything(cls) -> Grant:
        """What a request gets when no key is configured (the API is open, on loopback only)."""
        return cls(frozenset({"admin"}))

    @property
    def limited(self) -> bool:
        return self.lanes is not None or self.clusters is not None

    def has(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes

    def covers_lane(self, lane: str) -> bool:
        return self.lanes is None or lane in self.lanes

    def covers_cluster(self, cluster: str) -> bool:
        return self.clusters is None or cluster in self.clusters

    def covers(self, lane: object, cluster: object) -> bool:
        """Whether a job (or template) in ``lane`` of ``cluster`` is this key's to see."""
        return (
            isinstance(lane, str)
            and isinstance(cluster, str)
            and self.covers_lane(lane)
            and (self.covers_cluster(cluster))
        )

    def fairness_for(self, asked: str | None) -> str | None:
        """The fairness key a submission through this key runs under; ValueError if it names
        another than the one the key is bound to."""
        if self.fairness_key is None or asked in (None, self.fairness_key):
            return self.fairness_key or asked
        raise ValueError(f"this API key submits as fairness key {self.fairness_key!r}, not {asked!r}")

    def job_filter(self) -> dict[str, Any]:
        """The part of a MongoDB filter on ``lane``/``cluster`` fields that keeps this key's jobs."""
        query: dict[str, Any] = {}
        if self.lanes is not None:
            query["lane"] = {"$in": sorted(self.lanes)}
        if self.clusters is not None:
            query["cluster"] = {"$in": sorted(self.clusters)}
        return query

    def describe(self) -> str:
        parts = [",".join(sorted(self.scopes))]
        if self.lanes is not None:
            parts.append("lanes=" + ",".join(sorted(self.lanes)))
        if self.clusters is not None:
            parts.append("clusters=" + ",".join(sorted(self.clusters)))
        if self.fairness_key is not None:
            parts.append(f"fairness={self.fairness_key}")
        return " ".join(parts)


S = TypeVar("S", bound=Submission)


def as_granted(grant: Grant, sub: S, doing: str) -> S:
    """``sub`` as this key may make it (403 outside its lanes and clusters, or naming a fairness key
    other than the one it is bound to), with its bound fairness key filled in. ``doing``: "submit
    to", "schedule jobs in"."""
    if not grant.covers(sub.lane, sub.cluster):
        raise Rejected(403, f"this API key may not {doing} lane {sub.lane!r} of cluster {sub.cluster!r}")
    try:
        fairness_key = grant.fairness_for(sub.fairness_key)
    except ValueError as exc:
        raise Rejected(403, str(exc)) from exc
    return sub if fairness_key == sub.fairness_key else sub.model_copy(update={"fairness_key": fairness_key})


def parse_grant(text: str, where: str) -> Grant:
    """``scope,scope [lanes=a,b] [clusters=c,d]``; ``where`` names the entry in error messages
    (never the key)."""
    words = text.split()
    if not words:
        raise ValueError(f"{where} has no scopes; allowed: {sorted(SCOPES)}")
    scopes = frozenset(s.strip() for s in words[0].split(",") if s.strip())
    if not scopes or not scopes <= SCOPES:
        raise ValueError(f"{where} has scopes {sorted(scopes)}; allowed: {sorted(SCOPES)}")
    limits: dict[str, frozenset[str]] = {}
    fairness: str | None = None
    for word in words[1:]:
        name, sep, values = word.partition("=")
        if sep and name == "fairness":
            if fairness is not None or not _FAIRNESS_KEY.match(values):
                got = values[:80]
                raise ValueError(f"{where}: fairness= needs one fairness key [A-Za-z0-9_.:@-], got {got!r}")
            fairness = values
            continue
        if not sep or name not in ("lanes", "clusters"):
            raise ValueError(f"{where}: {word[:40]!r} is not lanes=a,b, clusters=c,d or fairness=key")
        if name in limits:
            raise ValueError(f"{where} gives {name}= twice")
        items = frozenset(v for v in values.split(",") if v)
        bad = sorted(v for v in items if not _NAME.match(v))
        if not items or bad:
            raise ValueError(f"{where}: {name}= needs lane or cluster names [a-z0-9_-], got {values[:80]!r}")
        limits[name] = items
    grant = Grant(scopes, limits.get("lanes"), limits.get("clusters"), fairness)
    if (grant.limited or fairness is not None) and "admin" in scopes:
        raise ValueError(f"{where}: an admin key cannot be limited to lanes, clusters or a fairness key")
    return grant
