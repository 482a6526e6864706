"""Subprocess tasks at their edges: memory of child processes, a process killed by the memory
warning, stderr in the error, output during the stop grace, the job in the environment, and a
child that never reads its stdin."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.execute import run_task
from laneyard.services.runner.job_logs import LogBuffer
from laneyard.services.runner.outcome import Outcome
from laneyard.services.runner.registry import Registry
from laneyard.shared.states import JobState
from laneyard.shared.store import logs
from laneyard.shared.store.database import Database
from laneyard.shared.tiers import Tier

PY = sys.executable
POOL = ThreadPoolExecutor(max_workers=1)


async def run(
    db: Database, job_id: str, argv: list[str], args: dict[str, Any] | None = None, limit: float = 20.0
) -> Outcome:
    registry = Registry()
    registry.script("t", argv)
    task = registry.get("t")
    assert task is not None
    buffer = LogBuffer(db, job_id, 1, batch_lines=50, max_lines=1000)
    buffer.start()
    try:
        ctx = TaskContext(job_id, 1, "r7", "default", buffer)
        return await run_task(task, ctx, args or {}, limit, POOL, Tier.TINY, kill_grace=1.0)
    finally:
        await buffer.close()


async def test_the_memory_of_child_processes_counts_and_the_warning_can_end_them(db: Database) -> None:
    # The shell stays small; its python child grows past TINY's 128 MiB without handling SIGUSR1,
    # so the warning at 85% ends it: reason "memory", not a bare signal exit code. It grows by
    # 16 MiB per 0.2 s check, less than the 19 MiB between the warning and the limit.
    hog = "import time\nb = []\nfor _ in range(80):\n    b.append(bytearray(4 << 20)); time.sleep(0.05)\n"
    started = time.monotonic()
    outcome = await run(db, "tree", ["sh", "-c", f'"{PY}" -c "{hog}"; echo survived'])
    print(f"\nchild process stopped by the memory warning after {time.monotonic() - started:.2f}s")
    assert outcome.state is JobState.ERROR and outcome.reason == "memory", outcome
    assert outcome.error is not None and "SIGUSR1" in outcome.error
    assert "survived" not in [line["m"] for line in await logs.read_lines(db, "tree", 1)]


async def test_an_error_carries_the_end_of_stderr(db: Database) -> None:
    code = "import sys\nprint('first', file=sys.stderr)\nprint('bad input: x', file=sys.stderr)\nsys.exit(3)"
    outcome = await run(db, "err", [PY, "-c", code])
    assert outcome.reason == "exit code 3" and outcome.error is not None
    assert outcome.error.splitlines() == ["exited with code 3", "first", "bad input: x"]


async def test_output_while_stopping_is_logged(db: Database) -> None:
    code = (
        "import signal, sys, time\n"
        "def bye(*_):\n"
        "    print('cleaning up', flush=True)\n"
        "    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        "time.sleep(60)\n"
    )
    outcome = await run(db, "bye", [PY, "-c", code], limit=1.0)
    assert outcome.reason == "timeout"
    assert "cleaning up" in [line["m"] for line in await logs.read_lines(db, "bye", 1)]


async def test_the_job_is_described_in_the_environment(db: Database) -> None:
    code = (
        "import json, os\n"
        "print(json.dumps({k: os.environ[k] for k in "
        "('LANEYARD_JOB_ID', 'LANEYARD_JOB_ATTEMPT', 'LANEYARD_RUNNER_ID', 'LANEYARD_JOB_CLUSTER')}))\n"
    )
    outcome = await run(db, "env", [PY, "-c", code])
    assert outcome.result == {
        "LANEYARD_JOB_ID": "env",
        "LANEYARD_JOB_ATTEMPT": "1",
        "LANEYARD_RUNNER_ID": "r7",
        "LANEYARD_JOB_CLUSTER": "default",
    }


async def test_a_child_that_never_reads_its_stdin_is_still_held_to_its_time_limit(db: Database) -> None:
    started = time.monotonic()
    outcome = await run(db, "deaf", ["sleep", "60"], {"blob": "x" * 1_000_000}, limit=1.0)
    assert outcome.reason == "timeout" and time.monotonic() - started < 10
