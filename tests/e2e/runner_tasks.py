"""Tasks for the runner's crash tests: an execution is recorded when it starts and marked when it
ends, so "finished at most once" can be told apart from "started again after a crash"."""

from __future__ import annotations

import asyncio
import os
import uuid

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import task

_client: AsyncMongoClient[dict[str, object]] | None = None


def _executions() -> AsyncCollection[dict[str, object]]:
    global _client
    if _client is None:
        _client = AsyncMongoClient(os.environ["LANEYARD_MONGO_URL"], timeoutMS=10_000)
    return _client[os.environ["LANEYARD_MONGO_DB"]]["executions"]


@task("e2e.work")
async def work(ctx: TaskContext, sleep: float = 1.0) -> dict[str, str]:
    execution = uuid.uuid4().hex
    doc = {"_id": execution, "job_id": ctx.job_id, "attempt": ctx.attempt, "runner": ctx.runner_id}
    await _executions().insert_one({**doc, "finished": False})
    await asyncio.sleep(sleep)
    await _executions().update_one({"_id": execution}, {"$set": {"finished": True}})
    return {"execution": execution}
