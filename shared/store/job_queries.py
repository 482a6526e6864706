"""Listing jobs: filtered, newest first, paged by an opaque cursor (created_at and id of the last one)."""

from __future__ import annotations

from typing import Any

from pymongo import DESCENDING

from laneyard.shared.store.database import Database, Doc
from laneyard.shared.store.paging import decode_cursor, encode_cursor

MAX_LIMIT = 500


def build_filter(
    *,
    state: str | None = None,
    lane: str | None = None,
    cluster: str | None = None,
    labels: dict[str, str] | None = None,
    cursor: str | None = None,
) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if state is not None:
        query["state"] = state
    if lane is not None:
        query["lane"] = lane
    if cluster is not None:
        query["cluster"] = cluster
    for key, value in (labels or {}).items():
        query[f"labels.{key}"] = value
    if cursor is not None:
        at, job_id = decode_cursor(cursor)
        # Ties on created_at are broken by _id, the second sort key, so no job is skipped or repeated.
        query["$or"] = [{"created_at": {"$lt": at}}, {"created_at": at, "_id": {"$lt": job_id}}]
    return query


def merge_condition(a: Any, b: Any) -> Any:
    """Two conditions on one field as one: ``{"$gte": 1}`` and ``{"$lt": 5}`` -> both operators."""
    ops_a = a if isinstance(a, dict) and all(str(k).startswith("$") for k in a) else {"$eq": a}
    ops_b = b if isinstance(b, dict) and all(str(k).startswith("$") for k in b) else {"$eq": b}
    if set(ops_a) & set(ops_b):
        raise ValueError(f"conditions {a!r} and {b!r} overlap")
    return {**ops_a, **ops_b}


def branches(query: dict[str, Any]) -> list[dict[str, Any]]:
    """A query whose ``$or`` is split into one query per branch, each with the rest of the filter.

    Servers answer a plain range on ``created_at`` from its index, sorted and limited; an ``$or``
    of two ranges may be read as a scan of the collection (nx-27017 does), which is what made a
    next page slow with many jobs."""
    if "$or" not in query:
        return [query]
    rest = {k: v for k, v in query.items() if k != "$or"}
    out = []
    for branch in query["$or"]:
        merged = dict(rest)
        for field, condition in branch.items():
            merged[field] = merge_condition(merged[field], condition) if field in merged else condition
        out.append(merged)
    return out


def matches_id(job_id: str, condition: dict[str, Any]) -> bool:
    """``condition`` (``$lt``/``$lte``/``$gt``/``$gte`` on ``_id``) checked here, not by the server."""
    checks = {"$lt": job_id.__lt__, "$lte": job_id.__le__, "$gt": job_id.__gt__, "$gte": job_id.__ge__}
    unknown = set(condition) - set(checks)
    if unknown:
        raise ValueError(f"unsupported _id condition {sorted(unknown)}")
    return all(checks[op](str(value)) for op, value in condition.items())


def newest_first(doc: Doc) -> tuple[float, str]:
    return float(doc.get("created_at") or 0.0), str(doc["_id"])


async def find(
    db: Database, query: dict[str, Any], limit: int, skip: int = 0
) -> tuple[list[Doc], str | None]:
    """Up to ``limit`` jobs (without their args) and the cursor of the next page, if there may be one."""
    limit = max(1, min(limit, MAX_LIMIT))
    docs: list[Doc] = []
    for part in branches(query):
        # An ``_id`` range next to a time equality (the cursor's ties) is read as a scan on
        # nx-27017; the ties of one instant are few, so they are fetched whole and cut here.
        ranged = isinstance(part.get("_id"), dict) and set(part["_id"]) <= {"$lt", "$lte", "$gt", "$gte"}
        below = part.pop("_id") if ranged else None
        found = db["jobs"].find(part, projection={"args": False})
        found = found.sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        if below is None:
            found = found.limit(skip + limit + 1)
        docs += [d async for d in found if below is None or matches_id(str(d["_id"]), below)]
    # Branches do not overlap (a cursor's are before and at its time), so no job comes twice.
    docs = sorted(docs, key=newest_first, reverse=True)[skip : skip + limit + 1]
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (encode_cursor(docs[-1], "created_at") if more and docs else None)
