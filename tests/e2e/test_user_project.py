"""A user's project with its own top-level ``services`` and ``shared`` packages runs its tasks on a
runner started in the project's folder: its packages are the ones its tasks import, not Laneyard's."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import httpx
import pytest

from laneyard.shared.store.database import Database
from tests.support.stack import CONSOLE_SCRIPT, PYTHON_M, Stack
from tests.support.user_project import MARKS, TASK, TASKS_MODULE, write_user_project
from tests.support.waiting import wait_terminal

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "command",
    [
        pytest.param(PYTHON_M, id="python-m"),
        pytest.param(
            CONSOLE_SCRIPT,
            id="console-script",
            marks=pytest.mark.skipif(
                not Path(CONSOLE_SCRIPT[0]).exists(), reason="no laneyard console script beside python"
            ),
        ),
    ],
)
async def test_a_runner_started_in_the_users_project_runs_its_tasks_with_its_own_packages(
    stack: Stack, db: Database, tmp_path: Path, command: Sequence[str]
) -> None:
    project = write_user_project(tmp_path / "project")
    stack.add("admission")
    stack.add("dispatcher")
    # As a user runs it: in the project's folder, with no repository root on PYTHONPATH.
    stack.add("runner", "--tasks", TASKS_MODULE, cwd=project, command=command, repo_on_path=False)
    await asyncio.to_thread(stack.wait_ready)

    async with httpx.AsyncClient(base_url=stack.url, timeout=30) as client:
        reply = await client.post("/v1/jobs", json={"task": TASK, "args": {}, "tier": "TINY"})
        assert reply.status_code == 202, reply.text
        job_id = str(reply.json()["id"])

        docs = await wait_terminal(db, {job_id}, within=60)
        doc = docs.get(job_id)
        assert doc is not None and doc["state"] == "COMPLETED", doc

        job = (await client.get(f"/v1/jobs/{job_id}")).json()
        assert job["state"] == "COMPLETED"
        assert job["result"] == MARKS == {"services": "user", "shared": "user"}
