"""How big jobs and log lines are in the database, for the README's sizing paragraph (issue 16).

BSON sizes of a typical ended job and of a full log chunk, and the growth of nx-27017's SQLite file
for 10,000 such jobs and 100,000 log lines. Run with ``make bench`` (or ``-m bench -k storage``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import bson
import pytest

from laneyard.shared import lifecycle
from laneyard.shared.embedded.mongo import EmbeddedMongo
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import jobs, logs
from laneyard.shared.store.database import connect, ensure_indexes
from tests.bench.report import REPORT

pytestmark = [pytest.mark.bench, pytest.mark.timeout(900)]

JOBS = 10_000
LINES = 100_000


def ended_job(n: int) -> dict[str, object]:
    """A completed job as stored: a small args object and result, one attempt, its whole timeline."""
    message = JobMessage(
        id=f"{n:032x}", task="reports.build", args={"customer": f"c-{n}", "month": "2030-01"},
        lane="main", cluster="default", priority=5, tier="SMALL", max_execution_time=3600,
        labels={"team": "billing"}, retention_days=30.0,
    )  # fmt: skip
    doc = jobs.new_job_doc(message)
    now = time.time()
    states = ("IN_QUEUE", "WAITING", "RUNNING", "COMPLETED")
    doc.update(
        state="COMPLETED", runner="host-1234-abcd", result={"rows": 1234, "file": f"s3://bucket/{n}.csv"},
        error=None, reason=None, timeline={"1": {s: now for s in states}},
        write_token="0123456789abcdef", **lifecycle.ending_fields(30.0),
    )  # fmt: skip
    return doc


def chunk(job_id: str, number: int) -> dict[str, object]:
    line = "2030-01-01 12:00:00 INFO processed batch 17 of 40 (1234 rows) in 0.52 s"  # 72 characters
    lines = [{"t": time.time(), "s": "stdout", "m": line} for _ in range(logs.CHUNK_LINES)]
    return {"_id": logs.chunk_id(job_id, 1, number), "job_id": job_id, "attempt": 1, "lines": lines,
            "expire_at": lifecycle.ending_fields(30.0)["expire_at"]}  # fmt: skip


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.iterdir() if f.is_file() and not f.name.endswith(".log"))


async def test_bytes_per_job_and_per_log_line(tmp_path: Path) -> None:
    job_bson = len(bson.encode(ended_job(0)))
    chunk_bson = len(bson.encode(chunk("x" * 32, 0)))
    server = EmbeddedMongo(tmp_path / "nx")
    url = server.start()
    try:
        client, db = connect(Settings(mongo_url=url, mongo_db="sizing"))
        await ensure_indexes(db)
        await db["jobs"].insert_one({"_id": "warm"})
        await db["logs"].insert_one({"_id": "warm"})
        before = folder_bytes(tmp_path / "nx")
        for start in range(0, JOBS, 500):
            await db["jobs"].insert_many([ended_job(n) for n in range(start, start + 500)])
        after_jobs = folder_bytes(tmp_path / "nx")
        chunks = LINES // logs.CHUNK_LINES
        for start in range(0, chunks, 50):
            await db["logs"].insert_many([chunk(f"{n:032x}", 0) for n in range(start, start + 50)])
        after_logs = folder_bytes(tmp_path / "nx")
        await client.close()
    finally:
        server.stop()
    per_job_disk = (after_jobs - before) / JOBS
    per_line_disk = (after_logs - after_jobs) / LINES
    print(f"\nBSON: a job {job_bson} B, a log line {chunk_bson / logs.CHUNK_LINES:.0f} B "
          f"(a {logs.CHUNK_LINES}-line chunk {chunk_bson} B)")  # fmt: skip
    print(f"nx-27017 on disk: {per_job_disk:.0f} B a job ({JOBS} jobs, with indexes), "
          f"{per_line_disk:.0f} B a log line ({LINES} lines); pid {os.getpid()}")  # fmt: skip
    REPORT.add(
        "storage size",
        {
            "job BSON": f"{job_bson} B",
            "log line BSON": f"{chunk_bson / logs.CHUNK_LINES:.0f} B",
            "job on nx-27017": f"{per_job_disk:.0f} B",
            "log line on nx-27017": f"{per_line_disk:.0f} B",
        },
    )
    assert job_bson > 0 and per_job_disk > 0
