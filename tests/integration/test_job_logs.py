"""Job logs against a real MongoDB-wire server: bounded, in order, and readable while written."""

from __future__ import annotations

import asyncio

from laneyard.services.runner.job_logs import LogBuffer
from laneyard.shared.store import logs
from laneyard.shared.store.database import Database


async def read_all(db: Database, job_id: str, attempt: int, limit: int) -> list[logs.Line]:
    out: list[logs.Line] = []
    after = 0
    while True:
        page = await logs.read_after(db, job_id, attempt, after, limit)
        out += page.lines
        after = page.next
        if page.complete:
            return out


async def test_a_log_past_its_bound_is_cut_with_a_final_line_saying_so(db: Database) -> None:
    buffer = LogBuffer(db, "j1", 1, batch_lines=7, max_lines=450, flush_seconds=0.05)
    buffer.start()
    for i in range(700):
        buffer.add("log", f"line {i}")
        if i % 97 == 0:
            await asyncio.sleep(0.06)  # let timed flushes rewrite partly filled chunks
    await buffer.close()

    lines = await read_all(db, "j1", 1, limit=10_000)
    assert [ln["m"] for ln in lines[:450]] == [f"line {i}" for i in range(450)]
    assert [ln["seq"] for ln in lines] == list(range(1, 452))
    assert lines[-1]["s"] == "laneyard"
    assert lines[-1]["m"] == "[laneyard] log cut after 450 lines; 250 more lines dropped"
    stamps = [ln["t"] for ln in lines]
    assert stamps == sorted(stamps)
    assert await db["logs"].count_documents({"job_id": "j1"}) == 3  # 200 + 200 + 51 lines

    # Paging from any point, across chunk boundaries, gives the same lines.
    assert await read_all(db, "j1", 1, limit=37) == lines
    for after in (0, 199, 200, 201, 450, 451, 999):
        page = await logs.read_after(db, "j1", 1, after, limit=5)
        assert [ln["seq"] for ln in page.lines] == list(range(after + 1, min(after + 5, 451) + 1))
        assert page.next == (page.lines[-1]["seq"] if page.lines else after)


async def test_a_follower_sees_every_line_once_while_they_are_written(db: Database) -> None:
    buffer = LogBuffer(db, "j2", 2, batch_lines=50, max_lines=10_000, flush_seconds=0.02)
    buffer.start()
    seen: list[logs.Line] = []
    writing = True

    async def follow() -> None:
        after = 0
        while True:
            done = not writing  # read before the lines, as the API reads the job's state
            page = await logs.read_after(db, "j2", 2, after, limit=120)
            seen.extend(page.lines)
            after = page.next
            if done and page.complete:
                return
            await asyncio.sleep(0.01)

    follower = asyncio.create_task(follow())
    for i in range(1000):
        buffer.add("stdout" if i % 2 else "stderr", f"n{i}")
        if i % 40 == 0:
            await asyncio.sleep(0.015)
    await asyncio.wait_for(buffer.close(), 30)
    writing = False
    await asyncio.wait_for(follower, 30)
    assert [ln["m"] for ln in seen] == [f"n{i}" for i in range(1000)]
    assert [ln["seq"] for ln in seen] == list(range(1, 1001))
    assert (await logs.read_after(db, "j2", 1)).lines == []  # attempts are kept apart
