"""The store against a real MongoDB-wire server."""

from __future__ import annotations

import asyncio

from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState
from laneyard.shared.store import idempotency, job_queries, job_record, jobs, logs
from laneyard.shared.store.database import Database


def job(job_id: str = "j1") -> JobMessage:
    return JobMessage(id=job_id, task="demo.noop", args={"x": [1, {"y": 2}]}, lane="main", cluster="default",
                      priority=5, tier="TINY", max_execution_time=10)  # fmt: skip


async def test_insert_is_insert_if_absent(db: Database) -> None:
    assert await jobs.insert(db, job())
    await jobs.transition(db, "j1", sources={JobState.IN_QUEUE}, target=JobState.WAITING, attempt=1)
    assert not await jobs.insert(db, job())
    doc = await jobs.get(db, "j1")
    assert doc is not None and doc["state"] == JobState.WAITING and doc["args"] == {"x": [1, {"y": 2}]}


async def test_a_job_read_back_travels_with_its_keys(db: Database) -> None:
    keyed = job("j2").model_copy(update={"fairness_key": "tenant:acme", "concurrency_key": "db:reports"})
    await jobs.insert(db, keyed)
    stored = await job_record.read(db, "j2", with_args=True)
    assert stored is not None
    again = stored.message()
    assert (again.fairness_key, again.concurrency_key) == ("tenant:acme", "db:reports")
    assert again.args == keyed.args


async def test_a_transition_happens_once_even_when_raced(db: Database) -> None:
    await jobs.insert(db, job())
    results = await asyncio.gather(
        *(jobs.transition(db, "j1", sources={JobState.IN_QUEUE}, target=JobState.WAITING, attempt=1)
          for _ in range(10))
    )  # fmt: skip
    assert sum(r is not None for r in results) == 1


async def test_transition_records_timeline_per_attempt(db: Database) -> None:
    await jobs.insert(db, job())
    for src, dst, attempt in [
        (JobState.IN_QUEUE, JobState.WAITING, 1),
        (JobState.WAITING, JobState.RUNNING, 1),
        (JobState.RUNNING, JobState.IN_QUEUE, 2),
        (JobState.IN_QUEUE, JobState.WAITING, 2),
    ]:
        assert await jobs.transition(db, "j1", sources={src}, target=dst, attempt=attempt) is not None
    doc = await jobs.get(db, "j1")
    assert doc is not None
    assert set(doc["timeline"]["1"]) == {"IN_QUEUE", "WAITING", "RUNNING"}
    assert set(doc["timeline"]["2"]) == {"IN_QUEUE", "WAITING"}
    assert all(isinstance(t, float) for t in doc["timeline"]["2"].values())


async def test_where_guards_the_holder(db: Database) -> None:
    await jobs.insert(db, job())
    await jobs.transition(db, "j1", sources={JobState.IN_QUEUE}, target=JobState.WAITING, attempt=1)
    await jobs.transition(db, "j1", sources={JobState.WAITING}, target=JobState.RUNNING, attempt=1,
                          fields={"runner": "a"})  # fmt: skip
    wrong = await jobs.transition(db, "j1", sources={JobState.RUNNING}, target=JobState.COMPLETED, attempt=1,
                                  where={"runner": "b"})  # fmt: skip
    assert wrong is None
    right = await jobs.transition(db, "j1", sources={JobState.RUNNING}, target=JobState.COMPLETED, attempt=1,
                                  where={"runner": "a"})  # fmt: skip
    assert right is not None and right["state"] == JobState.COMPLETED


async def test_log_chunks_read_back_in_order(db: Database) -> None:
    lines = [{"t": float(i), "s": "log", "m": f"line {i}"} for i in range(logs.CHUNK_LINES * 60 + 3)]
    chunks = [lines[i : i + logs.CHUNK_LINES] for i in range(0, len(lines), logs.CHUNK_LINES)]
    await logs.write_chunks(db, "j1", 1, 0, chunks)  # more than one page of chunk ids
    await logs.write_chunks(db, "j1", 2, 0, [[{"t": 1.0, "s": "log", "m": "retry"}]])
    read = await logs.read_lines(db, "j1", attempts=2)
    assert [ln["m"] for ln in read[: len(lines)]] == [ln["m"] for ln in lines]
    assert [ln["seq"] for ln in read[: len(lines)]] == list(range(1, len(lines) + 1))
    assert read[-1]["m"] == "retry" and read[-1]["attempt"] == 2 and read[-1]["seq"] == 1


async def test_idempotency_claim_race_has_one_winner(db: Database) -> None:
    claims = await asyncio.gather(*(idempotency.claim(db, "key-1", f"job-{i}") for i in range(8)))
    assert len({owner for owner, _ in claims}) == 1
    assert sum(mine for _, mine in claims) == 1


async def test_a_stale_claim_is_taken_over_once_and_keeps_its_job_id(db: Database) -> None:
    # The chaos run made two jobs for one key: the first submission published, its admission
    # died before recording the job, and the retry took the stale claim over with a new id.
    assert await idempotency.claim(db, "key-2", "first") == ("first", True)
    assert await idempotency.claim(db, "key-2", "retry") == ("first", False)
    await db["idempotency"].update_one({"_id": "key-2"}, {"$set": {"at": 0.0}})  # gone stale
    claims = await asyncio.gather(*(idempotency.claim(db, "key-2", f"retry-{i}") for i in range(4)))
    assert {owner for owner, _ in claims} == {"first"}
    assert sum(mine for _, mine in claims) == 1


async def test_paging_with_ties_on_created_at_returns_every_job_once(db: Database) -> None:
    for i in range(7):
        same = job(f"t{i}").model_copy(update={"submitted_at": 500.0 if i < 5 else 400.0 + i})
        await jobs.insert(db, same)
    seen: list[str] = []
    cursor = None
    while True:
        query = job_queries.build_filter(lane="main", cursor=cursor)
        page, cursor = await job_queries.find(db, query, 2)
        seen += [d["_id"] for d in page]
        if cursor is None:
            break
    assert seen == ["t4", "t3", "t2", "t1", "t0", "t6", "t5"]
