"""Tasks for end-to-end runs: each execution leaves a record, so "ran exactly once" can be counted."""

from __future__ import annotations

import os
import uuid

from pymongo import AsyncMongoClient

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.registry import task

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


@task("e2e.flaky")
async def flaky(ctx: TaskContext, key: str, fail_times: int) -> dict[str, int]:
    """Fails its first ``fail_times`` executions for ``key`` (counted across jobs, so a replayed
    job carries on the count), then succeeds."""
    await _executions().insert_one({"_id": uuid.uuid4().hex, "job_id": ctx.job_id, "key": key})
    runs = await _executions().count_documents({"key": key})
    ctx.log(f"attempt {ctx.attempt}, run {runs}")
    if runs <= fail_times:
        raise RuntimeError(f"flaky failure {runs} of {fail_times}")
    return {"runs": runs}


@task("e2e.parent")
async def parent(ctx: TaskContext, children: list[dict[str, object]]) -> dict[str, list[str]]:
    """Spawns one ``e2e.child`` per entry: {"cluster": slug, "fail": bool, "sleep": s, "optional": bool}."""
    ids = []
    for spec in children:
        ids.append(
            await ctx.submit_subtask(
                "e2e.child",
                {"fail": bool(spec.get("fail")), "sleep": float(spec.get("sleep") or 0.0)},  # type: ignore[arg-type]
                cluster=str(spec["cluster"]),
                optional=bool(spec.get("optional")),
                tier="TINY",
            )
        )
    ctx.log(f"spawned {len(ids)} sub-tasks")
    return {"children": ids}


@task("e2e.child")
async def child(ctx: TaskContext, fail: bool = False, sleep: float = 0.0) -> dict[str, str]:
    import asyncio

    await asyncio.sleep(sleep)
    if fail:
        raise RuntimeError("this child was told to fail")
    return {"cluster": ctx.cluster, "runner": ctx.runner_id}
