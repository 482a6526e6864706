"""Waiting for jobs to finish, by reading their documents (never by sleeping a fixed time)."""

from __future__ import annotations

import asyncio
import time

from laneyard.shared.store.database import Database, Doc

TERMINAL = ("COMPLETED", "ERROR", "CANCELLED")


async def wait_terminal(db: Database, ids: set[str], within: float) -> dict[str, Doc]:
    deadline = time.monotonic() + within
    docs: dict[str, Doc] = {}
    while time.monotonic() < deadline:
        docs = {d["_id"]: d async for d in db["jobs"].find({"_id": {"$in": list(ids)}})}
        if len(docs) == len(ids) and all(d["state"] in TERMINAL for d in docs.values()):
            return docs
        await asyncio.sleep(0.5)
    return docs


async def wait_state(db: Database, job_id: str, state: str, within: float) -> None:
    """Polls one job's document until it reaches `state`; fails the test if it never does."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        doc = await db["jobs"].find_one({"_id": job_id})
        if doc is not None and doc["state"] == state:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not reach {state} within {within} s")


async def wait_started(db: Database, job_id: str, within: float) -> None:
    """Polls one job's document until its current attempt has entered RUNNING (it may have ended
    since: a short job can pass through RUNNING between two polls)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        doc = await db["jobs"].find_one({"_id": job_id})
        if doc is not None and "RUNNING" in (doc.get("timeline") or {}).get(str(doc.get("attempt", 1)), {}):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not start within {within} s")


def run_interval(doc: Doc) -> tuple[float, float]:
    """When the job's final attempt ran: its RUNNING stamp to its terminal stamp."""
    stamps = doc["timeline"][str(doc["attempt"])]
    end = next(stamps[s] for s in TERMINAL if s in stamps)
    return float(stamps["RUNNING"]), float(end)
