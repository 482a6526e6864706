"""Submitting jobs to a running stack and reading what became of them, for end-to-end tests."""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict

import httpx

from laneyard.shared.store.database import Database, Doc


async def submit(client: httpx.AsyncClient, body: dict[str, object]) -> str:
    reply = await client.post("/v1/jobs", json=body)
    assert reply.status_code == 202, reply.text
    return str(reply.json()["id"])


def process_id_has_pid(process_id: object, pid: int) -> bool:
    """Whether a runner's or dispatcher's id (host-pid-suffix) is that of process ``pid``."""
    return f"-{pid}-" in str(process_id)


async def wait_all_in_state(db: Database, ids: set[str], state: str, within: float) -> dict[str, Doc]:
    """Polls until every job of ``ids`` is in ``state``; fails the test if they never all are."""
    deadline = time.monotonic() + within
    docs: dict[str, Doc] = {}
    while time.monotonic() < deadline:
        docs = {d["_id"]: d async for d in db["jobs"].find({"_id": {"$in": list(ids)}})}
        if len(docs) == len(ids) and all(d["state"] == state for d in docs.values()):
            return docs
        await asyncio.sleep(0.1)
    states = Counter((d["state"], d.get("runner")) for d in docs.values())
    raise AssertionError(f"not all {len(ids)} jobs reached {state} within {within} s: {states}")


def by_runner(docs: dict[str, Doc]) -> dict[str, list[str]]:
    """Job ids grouped by the runner holding them."""
    held: dict[str, list[str]] = defaultdict(list)
    for job_id, doc in docs.items():
        held[str(doc.get("runner"))].append(job_id)
    return dict(held)


async def executions(db: Database) -> Counter[tuple[str, int]]:
    """How many times each (job, attempt) started, as ``tests.e2e.tasks`` (``e2e.count``) records."""
    return Counter([(d["job_id"], int(d.get("attempt") or 0)) async for d in db["executions"].find({})])


async def wait_lease_holder(db: Database, within: float, *, other_than: str | None = None) -> str:
    """The dispatch lease's holder once there is one (other than ``other_than``)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        doc = await db["leases"].find_one({"_id": "dispatcher"})
        if doc is not None and doc["holder"] != other_than and float(doc["expires_at"]) >= time.time():
            return str(doc["holder"])
        await asyncio.sleep(0.1)
    raise AssertionError(f"no dispatcher (other than {other_than}) took the dispatch lease within {within} s")
