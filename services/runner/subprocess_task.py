"""Running a subprocess task: args as JSON on stdin, output lines to the job's log, exit code to
an outcome (perseid semantics: 0 COMPLETED, 100 CANCELLED, anything else ERROR).

The result of a COMPLETED run is its last non-empty stdout line if that line is JSON (of at most
``MAX_RESULT_CHARS``), else None. An ERROR's message ends with the last lines of its stderr.
The job is described to the process in its environment: ``LANEYARD_JOB_ID``,
``LANEYARD_JOB_ATTEMPT``, ``LANEYARD_RUNNER_ID``, ``LANEYARD_JOB_CLUSTER`` and, for a scheduled
job, ``LANEYARD_JOB_SCHEDULE_ID`` and ``LANEYARD_JOB_LAST_COMPLETED_AT`` (epoch seconds).

Limits: past its time limit the process group gets SIGTERM, then SIGKILL after ``grace``. The
resident memory of the process and its descendants is watched against the tier's limit: at 85%
the group gets SIGUSR1 once, so it can stop gracefully (SIGUSR1 rather than SIGTERM so that a
task can tell "memory is short" from "stop"; like SIGTERM it ends a process that does not handle
it), at 100% SIGKILL; a run that ends in error after that warning has reason ``memory``. (A
watcher rather than RLIMIT_AS: address-space limits break runtimes that reserve large virtual
ranges, such as the JVM, Go and CPython with some allocators, long before they use the memory.)
The child runs in its own session, so its own children are signalled with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections import deque
from pathlib import Path
from typing import Any

from laneyard.services.runner import heartbeats
from laneyard.services.runner.context import TaskContext
from laneyard.services.runner.outcome import MAX_RESULT_CHARS, Outcome
from laneyard.shared.reasons import Reason, exit_code
from laneyard.shared.states import JobState
from laneyard.shared.tiers import SOFT_MEMORY_FRACTION

CANCEL_EXIT_CODE = 100

WATCH_SECONDS = 0.2
MAX_TREE = 256  # processes counted per memory check: a fork bomb cannot make the watcher crawl
LINE_LIMIT = 1 << 20  # longer lines are split rather than failing the reader
MAX_LINE_CHARS = 16_384  # what the log keeps of one line
STDERR_TAIL_LINES = 20
MAX_ERROR_CHARS = 4000
PIPE_DRAIN_SECONDS = 1.0


def rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError):
        return None
    return None


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in (task / "children").read_text().split()]
    except OSError:
        pass
    return found


def tree_rss_mib(pid: int) -> float | None:
    """Resident memory of ``pid`` and its descendants; None once ``pid`` is gone.

    Reads procfs synchronously: these are in-memory files answered in microseconds, cheaper than
    a thread hop every 0.2 s.
    """
    top = rss_mib(pid)
    if top is None:
        return None
    total, seen, todo = top, {pid}, _children(pid)
    while todo and len(seen) < MAX_TREE:
        child = todo.pop()
        if child in seen:
            continue
        seen.add(child)
        total += rss_mib(child) or 0.0
        todo += _children(child)
    return total


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


class _Output:
    """What the outcome needs from the output: the last stdout line, the tail of stderr."""

    def __init__(self, ctx: TaskContext) -> None:
        self.ctx = ctx
        self.last_stdout = ""
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL_LINES)

    async def pump(self, stream: asyncio.StreamReader | None, name: str) -> None:
        if stream is None:
            return
        while True:
            try:
                raw = await stream.readline()
            except ValueError:  # a line over LINE_LIMIT: take what is buffered
                raw = await stream.read(LINE_LIMIT)
            if not raw:
                return
            line = raw.decode(errors="replace").rstrip("\r\n")
            beat = heartbeats.parse_line(line) if name == "stdout" else None
            if beat is not None:
                self.ctx.heartbeat(beat.progress, beat.message)
                continue
            self.ctx.logs.add(name, line[:MAX_LINE_CHARS])
            if name == "stderr":
                self.stderr_tail.append(line[:MAX_LINE_CHARS])
            elif line.strip():
                self.last_stdout = line if len(line) <= MAX_RESULT_CHARS else ""

    def result(self) -> Any:
        try:
            return json.loads(self.last_stdout) if self.last_stdout else None
        except ValueError:
            return None

    def error(self, head: str) -> str:
        tail = "\n".join(self.stderr_tail)
        return f"{head}\n{tail[-MAX_ERROR_CHARS:]}" if tail else head


class _MemoryWatch:
    def __init__(self, limit_mib: float) -> None:
        self.limit_mib = limit_mib
        self.warned_at: float | None = None  # MiB in use when SIGUSR1 was sent
        self.killed: str | None = None

    async def watch(self, proc: asyncio.subprocess.Process) -> None:
        while proc.returncode is None:
            used = tree_rss_mib(proc.pid)
            if used is not None:
                if used >= self.limit_mib:
                    self.killed = f"used {used:.0f} MiB, over its tier's limit of {self.limit_mib:.0f} MiB"
                    _signal_group(proc, signal.SIGKILL)
                    return
                if self.warned_at is None and used >= SOFT_MEMORY_FRACTION * self.limit_mib:
                    self.warned_at = used
                    _signal_group(proc, signal.SIGUSR1)
            await asyncio.sleep(WATCH_SECONDS)


def job_env(ctx: TaskContext) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LANEYARD_JOB_ID=ctx.job_id,
        LANEYARD_JOB_ATTEMPT=str(ctx.attempt),
        LANEYARD_RUNNER_ID=ctx.runner_id,
        LANEYARD_JOB_CLUSTER=ctx.cluster,
    )
    if ctx.schedule_id is not None:
        env["LANEYARD_JOB_SCHEDULE_ID"] = ctx.schedule_id
    if ctx.last_completed_at is not None:
        env["LANEYARD_JOB_LAST_COMPLETED_AT"] = repr(ctx.last_completed_at.timestamp())
    return env


async def _feed(proc: asyncio.subprocess.Process, args: dict[str, Any]) -> None:
    # A task so that a child that never reads its stdin cannot stall the run past its limits.
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(json.dumps(args).encode())
        await proc.stdin.drain()
        proc.stdin.close()


async def _settle(tasks: list[asyncio.Task[None]]) -> None:
    """Reads what is left in the pipes once the process is gone. A descendant that left the
    process group can hold them open, so this is bounded."""
    _, pending = await asyncio.wait(tasks, timeout=PIPE_DRAIN_SECONDS)
    for t in pending:
        t.cancel()


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
            env=job_env(ctx),
        )
    except OSError as exc:
        return Outcome(
            JobState.ERROR, error=f"could not start {argv[0]!r}: {exc}", reason=Reason.START_FAILED
        )
    output = _Output(ctx)
    memory = _MemoryWatch(memory_limit_mib)
    helpers = [asyncio.create_task(memory.watch(proc)), asyncio.create_task(_feed(proc, args))]
    pumps = [
        asyncio.create_task(output.pump(proc.stdout, "stdout")),
        asyncio.create_task(output.pump(proc.stderr, "stderr")),
    ]
    timed_out = False
    try:
        try:
            await asyncio.wait_for(proc.wait(), time_limit)
        except TimeoutError:
            timed_out = True
            await stop(proc, grace)  # its output during the grace period is still logged
    except asyncio.CancelledError:
        # Cancelled on request or at shutdown: the process must not outlive its job.
        await asyncio.shield(stop(proc, grace))
        raise
    finally:
        for t in helpers:
            t.cancel()
        await _settle(pumps)
    return _outcome(proc.returncode, timed_out, time_limit, memory, output)


def _outcome(
    code: int | None, timed_out: bool, time_limit: float, memory: _MemoryWatch, output: _Output
) -> Outcome:
    if timed_out:
        head = f"ran past max_execution_time ({time_limit:g}s)"
        return Outcome(JobState.ERROR, error=output.error(head), reason=Reason.TIMEOUT)
    if memory.killed is not None:
        return Outcome(JobState.ERROR, error=output.error(memory.killed), reason=Reason.MEMORY)
    if code == 0:
        return Outcome(JobState.COMPLETED, result=output.result())
    if code == CANCEL_EXIT_CODE:
        return Outcome(JobState.CANCELLED, error="the task exited with 100", reason=Reason.CANCELLED_BY_TASK)
    if memory.warned_at is not None:
        head = (
            f"exited with code {code} after the memory warning (SIGUSR1) at {memory.warned_at:.0f} MiB "
            f"of its tier's {memory.limit_mib:.0f} MiB"
        )
        return Outcome(JobState.ERROR, error=output.error(head), reason=Reason.MEMORY)
    return Outcome(
        JobState.ERROR, error=output.error(f"exited with code {code}"), reason=exit_code(code or 0)
    )
