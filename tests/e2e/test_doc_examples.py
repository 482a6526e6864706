"""Every Python example of README.md and docs/python.md runs, against the three services as processes.

The blocks that are modules of the reader's project (first line ``# myapp/tasks.py``) are written
into a project folder, and a runner is started there with ``laneyard runner --tasks myapp.tasks``,
as the documents say. Every other block runs as a script in that folder, with only ``LANEYARD_URL``,
``LANEYARD_AMQP_URL`` and ``LANEYARD_PREFIX`` set, and must exit 0. A block is left out only when its
first line is ``# not run: <reason>`` (tests/support/doc_examples.py).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.amqp.topology import Names
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from laneyard.shared.throttling import intake
from tests.support import doc_examples
from tests.support.broker import delete_queues
from tests.support.stack import CONSOLE_SCRIPT, PYTHON_M, ROOT, Service, Stack

pytestmark = pytest.mark.e2e

DOCUMENTS = ("README.md", "docs/python.md")
EXAMPLE_TIMEOUT = 120.0


def start(stack: Stack, project: Path, task_modules: list[str]) -> Service:
    """Admission and a dispatcher, and a runner started in the project as a user starts one."""
    stack.add("admission")
    stack.add("dispatcher")
    command = CONSOLE_SCRIPT if Path(CONSOLE_SCRIPT[0]).exists() else PYTHON_M
    runner = stack.add(
        "runner", "--tasks", ",".join(task_modules), cwd=project, command=command, repo_on_path=False
    )
    stack.wait_ready()
    wait_runner(stack, runner)
    return runner


def wait_runner(stack: Stack, runner: Service, within: float = 60.0) -> None:
    """Until the runner reports in: one that cannot import the task modules exits instead."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if runner.proc is not None and runner.proc.poll() is not None:
            raise AssertionError(f"the runner exited with {runner.proc.returncode}:\n{stack.tail(runner)}")
        status = httpx.get(f"{stack.url}/v1/status", timeout=5).json()
        runners = status.get("clusters", {}).get("default", {}).get("runners", {})
        if runners.get("idle", 0) + runners.get("busy", 0) >= 1:
            return
        time.sleep(0.2)
    raise AssertionError(f"the runner did not report in within {within:g} s:\n{stack.tail(runner)}")


def example_env(stack: Stack, settings: Settings) -> dict[str, str]:
    """What a reader's shell would have: no repository on the path, and where the stack is."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LANEYARD_") and k != "PYTHONPATH"}
    env.update(
        LANEYARD_URL=stack.url,
        LANEYARD_AMQP_URL=settings.amqp_url,
        LANEYARD_PREFIX=settings.prefix,
        PYTHONUNBUFFERED="1",
    )
    return env


def run(example: doc_examples.Example, project: Path, env: dict[str, str]) -> str | None:
    """Runs the example as a script in the project; None if it exited 0, else what went wrong."""
    script = project / f"example_line_{example.line}.py"
    script.write_text(example.script())
    try:
        done = subprocess.run(
            [sys.executable, str(script)],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_TIMEOUT,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        return f"{example.where}: did not finish within {EXAMPLE_TIMEOUT:g} s\n{output}"
    if done.returncode != 0:
        return f"{example.where}: exited with {done.returncode}\n{done.stdout[-3000:]}{done.stderr[-6000:]}"
    return None


def _text(out: str | bytes | None) -> str:
    return out.decode(errors="replace") if isinstance(out, bytes) else (out or "")


@pytest.mark.parametrize("document", DOCUMENTS)
async def test_every_python_example_in_the_document_runs(
    document: str, settings: Settings, db: Database, bus: Bus, stack: Stack, tmp_path: Path
) -> None:
    found = doc_examples.examples(ROOT / document, document)
    runnable = [example for example in found if example.runnable]
    assert runnable, f"{document} has no Python example to run"
    project = tmp_path / "project"
    project.mkdir()
    task_modules = doc_examples.write_project(found, project)
    lanes = doc_examples.lanes(found)
    try:
        await asyncio.to_thread(start, stack, project, task_modules)
        env = example_env(stack, settings)
        failures = []
        for example in runnable:
            failure = await asyncio.to_thread(run, example, project, env)
            if failure is not None:
                failures.append(failure)
        assert not failures, "\n\n".join(failures)
    finally:
        await asyncio.to_thread(stack.stop)
        # Lanes beyond those the bus fixture removes, as lane and intake queues.
        names = Names(settings.prefix)
        queues = [names.lane_queue(lane, "default") for lane in lanes]
        queues += [intake.queue_name(names, lane, "default") for lane in {*lanes, "main"}]
        await delete_queues(settings, *queues, exchanges=(intake.exchange_name(names),))
