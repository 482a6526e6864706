"""Job log lines, stored per attempt in chunk documents of CHUNK_LINES lines each.

A chunk's ``_id`` is derivable (job, attempt, chunk number) and chunk ``k`` holds lines
``k * CHUNK_LINES + 1 ..``, so a line's sequence number is its position and a follower asking for
the lines after ``seq`` reads from chunk ``seq // CHUNK_LINES`` on: no secondary index, no scan.
The last chunk of an attempt may be partly filled; the writer rewrites it as lines arrive, so a
reader stops at the first chunk that is missing or not full.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pymongo import ReplaceOne

from laneyard.shared.store.database import Database, Doc

CHUNK_LINES = 200
PAGE = 50  # chunk ids asked for per query

Line = dict[str, Any]  # {"t": epoch seconds, "s": stream, "m": text}


def chunk_id(job_id: str, attempt: int, chunk: int) -> str:
    return f"{job_id}:{attempt:03d}:{chunk:06d}"


async def write_chunks(
    db: Database, job_id: str, attempt: int, first_chunk: int, chunks: list[list[Line]]
) -> None:
    """Writes consecutive chunks, in order; re-writing one (a partly filled chunk that grew, or a
    retried flush) replaces it."""
    ops = [
        ReplaceOne(
            {"_id": chunk_id(job_id, attempt, n)},
            {"_id": chunk_id(job_id, attempt, n), "job_id": job_id, "attempt": attempt, "lines": lines},
            upsert=True,
        )
        for n, lines in enumerate(chunks, start=first_chunk)
    ]
    if ops:
        await db["logs"].bulk_write(ops, ordered=True)


async def read_chunks(
    db: Database, job_id: str, attempt: int, start: int = 0, most: int = 10**6
) -> list[Doc]:
    """Consecutive chunks from ``start`` on, up to ``most``, stopping after the first partly filled one."""
    out: list[Doc] = []
    chunk = start
    while len(out) < most:
        ids = [chunk_id(job_id, attempt, c) for c in range(chunk, chunk + min(PAGE, most - len(out)))]
        found = {d["_id"]: d async for d in db["logs"].find({"_id": {"$in": ids}})}
        for cid in ids:
            doc = found.get(cid)
            if doc is None:
                return out
            out.append(doc)
            if len(doc["lines"]) < CHUNK_LINES:
                return out
        chunk += len(ids)
    return out


@dataclass
class Page:
    lines: list[Line]  # each with "seq" added
    next: int  # the seq to ask for lines after
    complete: bool  # every stored line after ``after`` is in ``lines``


async def read_after(db: Database, job_id: str, attempt: int, after: int = 0, limit: int = 1000) -> Page:
    """Up to ``limit`` lines of one attempt whose seq is greater than ``after`` (seqs start at 1)."""
    after = max(0, after)
    start, skip = divmod(after, CHUNK_LINES)
    # One chunk more than the limit needs, to tell "exactly at the end" from "more to come".
    docs = await read_chunks(db, job_id, attempt, start, most=limit // CHUNK_LINES + 2)
    lines: list[Line] = []
    for doc in docs:
        number = int(str(doc["_id"]).rsplit(":", 1)[1])
        first = 0 if number > start else skip
        for i, line in enumerate(doc["lines"][first:], start=first):
            if len(lines) == limit:
                return Page(lines, lines[-1]["seq"], complete=False)
            lines.append({**line, "seq": number * CHUNK_LINES + i + 1})
    return Page(lines, lines[-1]["seq"] if lines else after, complete=True)


async def read_lines(db: Database, job_id: str, attempts: int) -> list[Line]:
    """Every stored line of attempts 1..``attempts``, each with its attempt and seq."""
    out: list[Line] = []
    for attempt in range(1, attempts + 1):
        after = 0
        while True:
            page = await read_after(db, job_id, attempt, after, limit=5000)
            out += [{**line, "attempt": attempt} for line in page.lines]
            if page.complete:
                break
            after = page.next
    return out


async def expire_with_job(db: Database, job_id: str, attempts: int, at: Any) -> int:
    """Gives every stored chunk of attempts 1..``attempts`` the job's ``expire_at``, so its lines go
    with it. Chunk ids are found by ``_id: {$in}`` pages (the one lookup nx-27017 indexes), then
    set in one update. Returns how many chunks it stamped."""
    found: list[str] = []
    for attempt in range(1, attempts + 1):
        chunk = 0
        while True:
            ids = [chunk_id(job_id, attempt, c) for c in range(chunk, chunk + PAGE)]
            page = [d["_id"] async for d in db["logs"].find({"_id": {"$in": ids}}, projection={"_id": True})]
            found += page
            if len(page) < PAGE:
                break
            chunk += PAGE
    if found:
        await db["logs"].update_many({"_id": {"$in": found}}, {"$set": {"expire_at": at}})
    return len(found)
