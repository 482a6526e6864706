"""Retention against the real MongoDB-wire server: the write that ends a job stamps its expiry on it
and on its log lines, and expired documents are deleted while fresh ones stay."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from laneyard.shared import lifecycle, retention
from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState
from laneyard.shared.store import dead_letters, expiry, jobs, logs, subtasks
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites

SECOND = 1 / retention.DAY  # one second, in days


def later() -> datetime:
    """A sweep as if a few seconds had passed: past a one-second retention, far from a day's."""
    return datetime.now(UTC) + timedelta(seconds=5)


def job(job_id: str, days: float | None, parent_id: str | None = None) -> JobMessage:
    return JobMessage(
        id=job_id, task="demo.noop", args={}, lane="main", cluster="default", priority=5, tier="TINY",
        max_execution_time=10, retention_days=days, parent_id=parent_id,
    )  # fmt: skip


async def run_to_end(db: Database, writes: JobWrites, message: JobMessage, lines: int) -> None:
    assert await lifecycle.record(writes, message)
    assert await lifecycle.mark_waiting(writes, message)
    assert await lifecycle.start(writes, message, "r1")
    chunks = [
        [{"t": 0.0, "s": "out", "m": f"line {n}"} for n in range(k, min(k + logs.CHUNK_LINES, lines))]
        for k in range(0, lines, logs.CHUNK_LINES)
    ]
    await logs.write_chunks(db, message.id, 1, 0, chunks)
    assert await lifecycle.finish(db, writes, message, 1, "r1", JobState.COMPLETED, {"result": 1})


async def log_chunks(db: Database, job_id: str) -> list[dict[str, object]]:
    return [d async for d in db["logs"].find({"job_id": job_id})]


async def test_an_expired_job_and_its_logs_are_deleted_and_a_fresh_one_kept(db: Database) -> None:
    writes = JobWrites(db)
    await run_to_end(db, writes, job("old", SECOND), lines=450)  # three chunks
    await run_to_end(db, writes, job("fresh", None), lines=10)

    old, fresh = await jobs.get(db, "old"), await jobs.get(db, "fresh")
    assert old is not None and fresh is not None
    old_at, fresh_at = retention.as_datetime(old["expire_at"]), retention.as_datetime(fresh["expire_at"])
    assert old_at is not None and fresh_at is not None
    assert old_at - datetime.now(UTC) < timedelta(seconds=2)
    assert fresh_at - datetime.now(UTC) > timedelta(days=29)
    chunks = await log_chunks(db, "old")
    assert len(chunks) == 3 and all(retention.as_datetime(c["expire_at"]) == old_at for c in chunks)

    # Real time passes here: nx-27017 compares dates to the whole second, hence 2 s for a 1 s retention.
    await asyncio.sleep(2.1)
    deleted = await expiry.sweep(db)
    assert deleted["jobs"] == 1 and deleted["logs"] == 3
    assert await jobs.get(db, "old") is None and await log_chunks(db, "old") == []
    assert await jobs.get(db, "fresh") is not None and len(await log_chunks(db, "fresh")) == 1


async def test_a_job_ended_by_a_caller_without_its_retention_gets_its_own(db: Database) -> None:
    writes = JobWrites(db)
    message = job("q", 90.0)
    assert await lifecycle.record(writes, message)
    assert await lifecycle.cancel_queued(db, "q", 1)
    doc = await jobs.get(db, "q")
    assert doc is not None and doc["state"] == "CANCELLED"
    at = retention.as_datetime(doc["expire_at"])
    assert at is not None and at - datetime.now(UTC) > timedelta(days=89)


async def test_a_parent_with_unfinished_subtasks_is_kept_until_the_last_one_ends(db: Database) -> None:
    writes = JobWrites(db)
    parent = job("p", SECOND)
    assert await lifecycle.record(writes, parent)
    assert await lifecycle.mark_waiting(writes, parent)
    assert await lifecycle.start(writes, parent, "r1")
    child = job("c", SECOND, parent_id="p")
    assert await subtasks.register(db, "p", 1, "c", optional=False)
    assert await lifecycle.record(writes, child)
    await lifecycle.await_subtasks(db, "p", 1, "r1", None)
    assert await lifecycle.cancel_awaiting(db, "p", 1)

    await expiry.sweep(db, later())
    kept = await jobs.get(db, "p")
    assert kept is not None and kept["state"] == "CANCELLED" and "expire_at" not in kept

    assert await lifecycle.cancel_queued(db, "c", 1, retention_days=SECOND)
    ended = await jobs.get(db, "p")
    assert ended is not None and retention.as_datetime(ended.get("expire_at")) is not None
    await expiry.sweep(db, later())
    assert await jobs.get(db, "p") is None and await jobs.get(db, "c") is None


async def test_dead_letters_expire_on_their_own_setting(db: Database) -> None:
    old = await dead_letters.record(db, source="admission", reason="r", body=b"{}", keep_days=SECOND)
    kept = await dead_letters.record(db, source="admission", reason="r", body=b"{}", keep_days=7)
    assert (await expiry.sweep(db, later()))["dead_letters"] == 1
    assert await dead_letters.get(db, old) is None and await dead_letters.get(db, kept) is not None
