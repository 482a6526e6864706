"""The jobs list's filters: read from the query string, checked, and turned into a store query.

Every filter narrows an indexed, newest-first walk (``shared.store.job_queries``); nothing is
counted, so a page costs the same with a million jobs as with a hundred.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from laneyard.services.admission.grants import Grant
from laneyard.shared.states import JobState
from laneyard.shared.store import job_queries

RANGES = {"15m": 15 * 60, "1h": 3600, "6h": 6 * 3600, "24h": 24 * 3600, "7d": 7 * 24 * 3600}
_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_TASK = re.compile(r"^[A-Za-z0-9_.:-]{1,200}$")
_LABEL = re.compile(r"^([A-Za-z0-9_-]{1,63}):(.{0,200})$")
_CURSOR = re.compile(r"^[A-Za-z0-9_-]{1,512}$")


class BadFilter(ValueError):
    pass


@dataclass(frozen=True)
class JobFilters:
    state: str | None = None
    lane: str | None = None
    cluster: str | None = None
    task: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    range: str | None = None
    cursor: str | None = None

    def params(self, **changes: str | None) -> dict[str, str]:
        """The query string of these filters (with ``changes``), for links and the live poll."""
        out = {
            "state": self.state,
            "lane": self.lane,
            "cluster": self.cluster,
            "task": self.task,
            "label": ",".join(f"{k}:{v}" for k, v in self.labels.items()) or None,
            "range": self.range,
            "cursor": self.cursor,
        }
        out.update(changes)
        return {k: v for k, v in out.items() if v}


def _one(params: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    if not pattern.match(value):
        raise BadFilter(f"{name}: {value[:80]!r} is not {what}")
    return value


def parse_filters(params: Mapping[str, str]) -> JobFilters:
    state = (params.get("state") or "").strip() or None
    if state is not None and state not in {str(s) for s in JobState}:
        raise BadFilter(f"state: {state[:40]!r} is not one of {', '.join(str(s) for s in JobState)}")
    labels: dict[str, str] = {}
    for item in (params.get("label") or "").split(","):
        item = item.strip()
        if not item:
            continue
        found = _LABEL.match(item)
        if found is None:
            raise BadFilter(f"label: {item[:80]!r} must be key:value, the key [A-Za-z0-9_-]")
        labels[found.group(1)] = found.group(2)
    range_ = (params.get("range") or "").strip() or None
    if range_ is not None and range_ not in RANGES:
        raise BadFilter(f"range: {range_[:20]!r} is not one of {', '.join(RANGES)}")
    return JobFilters(
        state=state,
        lane=_one(params, "lane", _SLUG, "a lane name"),
        cluster=_one(params, "cluster", _SLUG, "a cluster slug"),
        task=_one(params, "task", _TASK, "a task name"),
        labels=labels,
        range=range_,
        cursor=_one(params, "cursor", _CURSOR, "a cursor this page handed out"),
    )


def job_query(filters: JobFilters, grant: Grant, now: float) -> dict[str, Any]:
    """The store query for these filters, within what ``grant`` may see. Raises ``BadFilter`` for a
    lane or cluster the key does not cover (``shared.store.paging.BadCursor`` for a bad cursor)."""
    if (filters.lane is not None and not grant.covers_lane(filters.lane)) or (
        filters.cluster is not None and not grant.covers_cluster(filters.cluster)
    ):
        raise BadFilter("this API key may not read jobs of that lane or cluster")
    query = job_queries.build_filter(
        state=filters.state,
        lane=filters.lane,
        cluster=filters.cluster,
        labels=filters.labels,
        cursor=filters.cursor,
    )
    if filters.task is not None:
        query["task"] = filters.task
    if filters.range is not None:
        query["created_at"] = {"$gte": now - RANGES[filters.range]}
    for name, allowed in grant.job_filter().items():
        query.setdefault(name, allowed)
    return query
