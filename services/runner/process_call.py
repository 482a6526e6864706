"""The child side of a ``@task(..., process=True)`` task: ``python -m laneyard.services.runner.process_call
module:qualname`` imports the function, calls it with the job's args from stdin and prints its
result as JSON on the last stdout line.

It is a subprocess task with a Python entry point, so it has what subprocess tasks have: its own
interpreter (no GIL shared with the runner), a time limit that really stops it, the tier's memory
limit, cancellation, and output lines in the job's log as they come. The price is an interpreter
start and the module's imports per job (about 0.1 to 0.3 s).

The function gets a ``ProcessContext`` instead of a ``TaskContext``: the same job fields and a
``log()`` (lines go to stdout, so they are stored in the job's log), but no database connection,
so it cannot spawn sub-tasks.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import os
import sys
import traceback
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from laneyard.services.runner import heartbeats
from laneyard.services.runner.outcome import MAX_RESULT_CHARS

EXIT_ERROR = 1
EXIT_USAGE = 2


@dataclass
class ProcessContext:
    job_id: str
    attempt: int
    runner_id: str
    cluster: str
    schedule_id: str | None = None
    last_completed_at: datetime | None = None

    @classmethod
    def from_env(cls) -> ProcessContext:
        env = os.environ
        last = env.get("LANEYARD_JOB_LAST_COMPLETED_AT")
        return cls(
            job_id=env.get("LANEYARD_JOB_ID", ""),
            attempt=int(env.get("LANEYARD_JOB_ATTEMPT", "1")),
            runner_id=env.get("LANEYARD_RUNNER_ID", ""),
            cluster=env.get("LANEYARD_JOB_CLUSTER", ""),
            schedule_id=env.get("LANEYARD_JOB_SCHEDULE_ID"),
            last_completed_at=datetime.fromtimestamp(float(last), UTC) if last else None,
        )

    def log(self, message: str) -> None:
        print(message, flush=True)

    def heartbeat(self, progress: float | None = None, message: str | None = None) -> None:
        """As ``TaskContext.heartbeat``: a line on stdout that the runner reads as a heartbeat."""
        print(heartbeats.line_of(progress, message), flush=True)

    async def submit_subtask(self, *_: Any, **__: Any) -> str:
        raise RuntimeError("a process=True task cannot spawn sub-tasks; run it in the runner instead")

    def submit_subtask_blocking(self, *_: Any, **__: Any) -> str:
        raise RuntimeError("a process=True task cannot spawn sub-tasks; run it in the runner instead")


def resolve(target: str) -> Any:
    module, _, qualname = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def call(target: str, args: dict[str, Any]) -> Any:
    fn = resolve(target)
    ctx = ProcessContext.from_env()
    inspect.signature(fn).bind(ctx, **args)  # bad args fail here, not deep inside the function
    result = fn(ctx, **args)
    return asyncio.run(result) if inspect.iscoroutine(result) else result


def main(argv: list[str]) -> int:
    if len(argv) != 1 or ":" not in argv[0]:
        print("usage: python -m laneyard.services.runner.process_call module:qualname", file=sys.stderr)
        return EXIT_USAGE
    try:
        args = json.load(sys.stdin)
        if not isinstance(args, dict):
            raise TypeError(f"args must be a JSON object, not {type(args).__name__}")
        result = call(argv[0], args)
        line = json.dumps(result)
        if len(line) > MAX_RESULT_CHARS:
            raise ValueError(f"the result is {len(line)} characters of JSON; the limit is {MAX_RESULT_CHARS}")
    except Exception as exc:
        traceback.print_exc(limit=20)
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        return EXIT_ERROR
    sys.stdout.flush()
    print(line, flush=True)  # last, so the runner reads it as the result
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
