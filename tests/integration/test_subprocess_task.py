"""Subprocess tasks: stdin args, logged output, exit codes, time and memory limits (real processes,
logs stored in the real MongoDB-wire server)."""

from __future__ import annotations

import sys
import time
from concurrent.futures import ThreadPoolExecutor

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
    db: Database, job_id: str, code: str, args: dict[str, object] | None = None, limit: float = 20.0,
    tier: Tier = Tier.TINY,
) -> Outcome:  # fmt: skip
    registry = Registry()
    registry.script("t", [PY, "-c", code])
    task = registry.get("t")
    assert task is not None
    buffer = LogBuffer(db, job_id, 1, batch_lines=50, max_lines=1000)
    buffer.start()
    try:
        return await run_task(task, TaskContext(job_id, 1, "r", "default", buffer), args or {}, limit, POOL,
                              tier, kill_grace=1.0)  # fmt: skip
    finally:
        await buffer.close()


async def test_args_on_stdin_output_in_the_log_and_the_last_json_line_as_result(db: Database) -> None:
    code = (
        "import json, sys\n"
        "args = json.load(sys.stdin)\n"
        "for i in range(args['n']):\n"
        "    print(f'line {i}', flush=True)\n"
        "    print(f'err {i}', file=sys.stderr, flush=True)\n"
        "print(json.dumps({'sum': args['n'] * 2}))\n"
    )
    outcome = await run(db, "ok", code, {"n": 3})
    assert outcome.state is JobState.COMPLETED and outcome.result == {"sum": 6}
    lines = await logs.read_lines(db, "ok", 1)
    out = [(line["s"], line["m"]) for line in lines if line["s"] == "stdout"]
    assert out == [("stdout", "line 0"), ("stdout", "line 1"), ("stdout", "line 2"), ("stdout", '{"sum": 6}')]
    assert [line["m"] for line in lines if line["s"] == "stderr"] == ["err 0", "err 1", "err 2"]


async def test_exit_codes_follow_perseid(db: Database) -> None:
    failed = await run(db, "e1", "import sys; sys.exit(1)")
    assert failed.state is JobState.ERROR and failed.reason == "exit code 1"
    cancelled = await run(db, "e100", "import sys; sys.exit(100)")
    assert cancelled.state is JobState.CANCELLED and cancelled.reason == "cancelled by task"
    other = await run(db, "e3", "import sys; sys.exit(3)")
    assert other.state is JobState.ERROR and other.reason == "exit code 3"


async def test_overrunning_the_time_limit_kills_even_a_process_that_ignores_sigterm(db: Database) -> None:
    code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\ntime.sleep(60)\n"
    started = time.monotonic()
    outcome = await run(db, "slow", code, limit=1.0)
    took = time.monotonic() - started
    print(f"\nstopped after {took:.1f}s (limit 1 s, grace 1 s)")
    assert outcome.state is JobState.ERROR and outcome.reason == "timeout"
    assert took < 10


async def test_a_sleep_past_the_time_limit_is_stopped_by_sigterm(db: Database) -> None:
    registry = Registry()
    registry.script("sleep", ["sleep", "60"])
    task = registry.get("sleep")
    assert task is not None
    buffer = LogBuffer(db, "sleep", 1, batch_lines=50, max_lines=1000)
    started = time.monotonic()
    outcome = await run_task(task, TaskContext("sleep", 1, "r", "default", buffer), {}, 1.0, POOL,
                             Tier.TINY, kill_grace=5.0)  # fmt: skip
    took = time.monotonic() - started
    print(f"\nsleep 60 stopped after {took:.2f}s (limit 1 s, SIGTERM honoured, grace 5 s unused)")
    assert outcome.state is JobState.ERROR and outcome.reason == "timeout"
    assert took < 6


async def test_memory_over_the_tier_limit_is_warned_then_killed(db: Database) -> None:
    # TINY's limit is 128 MiB: the child gets SIGUSR1 at 85% (it logs it) and SIGKILL at 100%. It
    # grows by 8 MiB per 0.2 s check, less than the 19 MiB between the two.
    code = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGUSR1, lambda *_: print('asked to stop', flush=True))\n"
        "chunks = []\n"
        "for _ in range(120):\n"
        "    chunks.append(bytearray(4 * 1024 * 1024))\n"
        "    time.sleep(0.1)\n"
    )
    outcome = await run(db, "hog", code, tier=Tier.TINY)
    assert outcome.state is JobState.ERROR and outcome.reason == "memory", outcome
    lines = await logs.read_lines(db, "hog", 1)
    assert any(line["m"] == "asked to stop" for line in lines)


async def test_a_missing_program_is_an_error_not_a_crash(db: Database) -> None:
    registry = Registry()
    registry.script("t", ["/nonexistent/program"])
    task = registry.get("t")
    assert task is not None
    buffer = LogBuffer(db, "missing", 1, batch_lines=50, max_lines=1000)
    outcome = await run_task(task, TaskContext("missing", 1, "r", "default", buffer), {}, 5.0, POOL)
    assert outcome.state is JobState.ERROR and outcome.reason == "start_failed"
