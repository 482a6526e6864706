"""How long ended jobs, their log lines and dead letters are kept: the decisions, as pure functions.

A job's retention is fixed when it is admitted (its submission's ``retention_days``, else its lane's
from ``LANEYARD_LANE_RETENTION``, else ``LANEYARD_RETENTION_DAYS``) and travels with it, so the
write that ends it can stamp ``expire_at`` without looking anything up. ``expire_at`` is a date:
MongoDB's TTL indexes (``expireAfterSeconds=0``) delete a document once that date has passed; on a
server whose TTL costs every read a scan (nx-27017), the lease holder deletes the same way
(``shared.store.expiry``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from laneyard.shared.settings import Settings

DAY = 86_400.0
DEFAULT_DAYS = 30.0  # for a job admitted before retention existed: it carries no retention_days
MAX_DAYS = 36_500.0


def parse_lane_days(text: str) -> dict[str, float]:
    """``"reports=90,tmp=1"`` -> {"reports": 90.0, "tmp": 1.0}; a clear error for anything else."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        lane, sep, value = part.partition("=")
        try:
            days = float(value)
        except ValueError:
            days = -1.0
        if not sep or not lane.strip() or not 0 < days <= MAX_DAYS:
            raise ValueError(f"LANEYARD_LANE_RETENTION: {part!r} is not lane=days (days > 0)")
        out[lane.strip()] = days
    return out


@dataclass(frozen=True)
class Retention:
    days: float = DEFAULT_DAYS
    lanes: dict[str, float] = field(default_factory=dict)
    dead_letter_days: float = DEFAULT_DAYS

    @classmethod
    def of(cls, settings: Settings) -> Retention:
        return cls(
            days=settings.retention_days,
            lanes=parse_lane_days(settings.lane_retention),
            dead_letter_days=settings.dead_letter_retention_days,
        )

    def days_for(self, lane: str, requested: float | None = None) -> float:
        """A submission's own choice wins over its lane's, which wins over the default."""
        if requested is not None:
            return requested
        return self.lanes.get(lane, self.days)


def expire_at(ended_at: float, days: float | None) -> datetime:
    """When a record that ended (or was written) at ``ended_at`` (epoch seconds) may be deleted."""
    keep = DEFAULT_DAYS if days is None else days
    return datetime.fromtimestamp(ended_at + keep * DAY, UTC)


def as_datetime(value: Any) -> datetime | None:
    """``expire_at`` as read back: a date from MongoDB, an ISO string from nx-27017 (it stores
    dates written by ``$set`` as text)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def unfinished_children(doc: dict[str, Any]) -> bool:
    """Whether a job document lists sub-tasks that have not ended (any attempt's): such a job is kept."""
    ended = {"COMPLETED", "ERROR", "CANCELLED"}
    return any(c.get("state") not in ended for c in (doc.get("children") or {}).values())
