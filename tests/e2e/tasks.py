"""Tasks for end-to-end runs: each execution leaves a record, so "ran exactly once" can be counted."""

from __future__ import annotations

import os
import uuid

from pymongo import AsyncMongoClient

from services.runner.context import TaskContext
from services.runner.registry import task

_client: AsyncMongoClient[dict[str, object]] | None = None


def _executions():  # type: ignore[no-untyped-def]
    global _client
    if _client is None:
        _client = AsyncMongoClient(os.environ["LANEYARD_MONGO_URL"], timeoutMS=10_000)
    return _client[os.environ["LANEYARD_MONGO_DB"]]["executions"]


@task("e2e.count")
async def count(ctx: TaskContext, lines: int = 0, sleep: float = 0.0) -> dict[str, str]:
    execution = uuid.uuid4().hex
    await _executions().insert_one({"_id": execution, "job_id": ctx.job_id, "attempt": ctx.attempt})
    for i in range(lines):
        ctx.log(f"{ctx.job_id} line {i}")
    if sleep:
        import asyncio

        await asyncio.sleep(sleep)
    return {"execution": execution}
