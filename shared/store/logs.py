"""Job log lines, stored in chunk documents whose ``_id`` is derivable (job, attempt, chunk number).

Readers fetch chunks by ``_id: {$in: [...]}`` without any secondary index, and a follower polls
for the next chunk ids until the job ends.
"""

from __future__ import annotations

from typing import Any

from shared.store.database import Database, Doc

PAGE = 50


def chunk_id(job_id: str, attempt: int, chunk: int) -> str:
    return f"{job_id}:{attempt:03d}:{chunk:06d}"


async def write_chunk(
    db: Database, job_id: str, attempt: int, chunk: int, lines: list[dict[str, Any]], truncated: bool = False
) -> None:
    doc: Doc = {"_id": chunk_id(job_id, attempt, chunk), "job_id": job_id, "attempt": attempt, "lines": lines}
    if truncated:
        doc["truncated"] = True
    # Re-writing a chunk (a retried flush) replaces it rather than failing on the duplicate _id.
    await db["logs"].replace_one({"_id": doc["_id"]}, doc, upsert=True)


async def read_chunks(db: Database, job_id: str, attempt: int, start: int = 0) -> list[Doc]:
    """Consecutive chunks from ``start`` on, stopping at the first one that does not exist."""
    out: list[Doc] = []
    chunk = start
    while True:
        ids = [chunk_id(job_id, attempt, c) for c in range(chunk, chunk + PAGE)]
        found = {d["_id"]: d async for d in db["logs"].find({"_id": {"$in": ids}})}
        for cid in ids:
            doc = found.get(cid)
            if doc is None:
                return out
            out.append(doc)
        chunk += PAGE


async def read_lines(db: Database, job_id: str, attempts: int) -> list[dict[str, Any]]:
    lines: list[dict[str, Any]] = []
    for attempt in range(1, attempts + 1):
        for doc in await read_chunks(db, job_id, attempt):
            for line in doc["lines"]:
                lines.append({**line, "attempt": attempt})
            if doc.get("truncated"):
                lines.append({"t": None, "s": "laneyard", "m": "[log truncated here]", "attempt": attempt})
    return lines
