"""Batched job writes keep the semantics of single ones, against the real MongoDB-wire server."""

from __future__ import annotations

import asyncio

from laneyard.shared.models import JobMessage
from laneyard.shared.states import JobState
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database
from laneyard.shared.store.job_writes import JobWrites

IN_QUEUE, WAITING, RUNNING = JobState.IN_QUEUE, JobState.WAITING, JobState.RUNNING


def job(job_id: str) -> JobMessage:
    return JobMessage(id=job_id, task="demo.noop", args={"n": 1}, lane="main", cluster="default",
                      priority=5, tier="TINY", max_execution_time=10)  # fmt: skip


async def test_concurrent_writes_are_batched_and_each_answered(db: Database) -> None:
    writes = JobWrites(db)
    ids = [f"j{i}" for i in range(300)]
    assert all(await asyncio.gather(*(writes.insert(job(i)) for i in ids)))
    batches, count = writes.stats()
    assert count == 300 and batches < 30, f"{batches} batches for 300 inserts"
    # A second insert of a recorded job is refused, the others in its batch go through.
    answers = await asyncio.gather(writes.insert(job("j0")), writes.insert(job("new")))
    assert answers == [False, True]
    moved = await asyncio.gather(
        *(writes.transition(i, sources={IN_QUEUE}, target=WAITING, attempt=1) for i in ids)
    )
    assert all(moved)
    doc = await jobs.get(db, "j7")
    assert doc is not None and doc["state"] == "WAITING" and doc["args"] == {"n": 1}
    assert set(doc["timeline"]["1"]) == {"IN_QUEUE", "WAITING"}


async def test_a_transition_that_does_not_match_is_reported_as_not_done(db: Database) -> None:
    writes = JobWrites(db)
    await asyncio.gather(*(writes.insert(job(f"k{i}")) for i in range(20)))
    await writes.transition("k3", sources={IN_QUEUE}, target=WAITING, attempt=1)
    # In one batch: k3 is no longer IN_QUEUE, the others are.
    moved = await asyncio.gather(
        *(writes.transition(f"k{i}", sources={IN_QUEUE}, target=WAITING, attempt=1) for i in range(20))
    )
    assert moved == [i != 3 for i in range(20)]


async def test_a_race_has_one_winner_and_writes_of_one_job_apply_in_order(db: Database) -> None:
    writes = JobWrites(db)
    await writes.insert(job("r"))
    await writes.transition("r", sources={IN_QUEUE}, target=WAITING, attempt=1)
    claims = await asyncio.gather(
        *(
            writes.transition("r", sources={WAITING}, target=RUNNING, attempt=1, fields={"runner": f"x{n}"})
            for n in range(5)
        )
    )
    assert claims.count(True) == 1
    done = await asyncio.gather(
        writes.insert(job("s")),
        writes.transition("s", sources={IN_QUEUE}, target=WAITING, attempt=1),
        writes.transition("s", sources={WAITING}, target=RUNNING, attempt=1),
    )
    assert done == [True, True, True]
    doc = await jobs.get(db, "s")
    assert doc is not None and doc["state"] == "RUNNING"
