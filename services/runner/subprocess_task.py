"""Running a subprocess task: args as JSON on stdin, output lines to the job's log, exit code to
an outcome (perseid semantics: 0 COMPLETED, 100 CANCELLED, anything else ERROR).

Limits: past its time limit the process group gets SIGTERM, then SIGKILL after ``grace``. Its
resident memory is watched against the tier's limit: at 85% it gets SIGUSR1 once, so it can stop
gracefully, at 100% SIGKILL. (A watcher rather than RLIMIT_AS: address-space limits break
runtimes that reserve large virtual ranges, such as the JVM, Go and CPython with some allocators,
long before they use the memory.) The child runs in its own session, so its own children are
signalled with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from services.runner.context import TaskContext
from services.runner.outcome import Outcome
from shared.states import JobState

CANCEL_EXIT_CODE = 100
SOFT_MEMORY_FRACTION = 0.85
WATCH_SECONDS = 0.2
LINE_LIMIT = 1 << 20  # longer lines are split rather than failing the reader
MAX_LINE_CHARS = 16_384


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def stop(proc: asyncio.subprocess.Process, grace: float) -> None:
    """SIGTERM, then SIGKILL if it has not exited after ``grace`` seconds."""
    if proc.returncode is not None:
        return
    _signal_group(proc, signal.SIGTERM)
    try:
        await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        _signal_group(proc, signal.SIGKILL)
        await proc.wait()


async def _pump(stream: asyncio.StreamReader | None, name: str, ctx: TaskContext, last: list[str]) -> None:
    if stream is None:
        return
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line over LINE_LIMIT: take what is buffered
            raw = await stream.read(LINE_LIMIT)
        if not raw:
            return
        line = raw.decode(errors="replace").rstrip("\n")[:MAX_LINE_CHARS]
        ctx.logs.add(name, line)
        if name == "stdout" and line.strip():
            last[:] = [line]


async def _watch_memory(proc: asyncio.subprocess.Process, limit_mib: float, killed: list[str]) -> None:
    warned = False
    while proc.returncode is None:
        used = rss_mib(proc.pid)
        if used is not None:
            if used >= limit_mib:
                killed.append(f"used {used:.0f} MiB, over its tier's limit of {limit_mib:.0f} MiB")
                _signal_group(proc, signal.SIGKILL)
                return
            if not warned and used >= SOFT_MEMORY_FRACTION * limit_mib:
                warned = True
                _signal_group(proc, signal.SIGUSR1)
        await asyncio.sleep(WATCH_SECONDS)


def _result(last: list[str]) -> Any:
    if not last:
        return None
    try:
        return json.loads(last[0])
    except ValueError:
        return None


async def run_script(
    argv: tuple[str, ...],
    ctx: TaskContext,
    args: dict[str, Any],
    time_limit: float,
    memory_limit_mib: float,
    grace: float,
) -> Outcome:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=LINE_LIMIT,
        )
    except OSError as exc:
        return Outcome(JobState.ERROR, error=f"could not start {argv[0]!r}: {exc}", reason="start_failed")
    last: list[str] = []
    killed: list[str] = []
    watcher = asyncio.create_task(_watch_memory(proc, memory_limit_mib, killed))
    try:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            proc.stdin.write(json.dumps(args).encode())
            await proc.stdin.drain()
            proc.stdin.close()
        work = asyncio.gather(
            proc.wait(), _pump(proc.stdout, "stdout", ctx, last), _pump(proc.stderr, "stderr", ctx, last)
        )
        try:
            await asyncio.wait_for(work, time_limit)
        except TimeoutError:
            await stop(proc, grace)
            return Outcome(
                JobState.ERROR, error=f"ran past max_execution_time ({time_limit:g}s)", reason="timeout"
            )
    except asyncio.CancelledError:
        # Cancelled on request or at shutdown: the process must not outlive its job.
        await asyncio.shield(stop(proc, grace))
        raise
    finally:
        watcher.cancel()
    code = proc.returncode
    if killed:
        return Outcome(JobState.ERROR, error=killed[0], reason="memory")
    if code == 0:
        return Outcome(JobState.COMPLETED, result=_result(last))
    if code == CANCEL_EXIT_CODE:
        return Outcome(JobState.CANCELLED, error="the task exited with 100", reason="cancelled by task")
    return Outcome(JobState.ERROR, error=f"exited with code {code}", reason=f"exit code {code}")
