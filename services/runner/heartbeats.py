"""What a heartbeat says, and how a subprocess task says it: pure, so a ``process=True`` child
imports nothing of the runner's.

``ctx.heartbeat(progress=0.4, message="page 40 of 100")`` from a Python task, or the stdout line
``@laneyard heartbeat {"progress": 0.4, "message": "page 40 of 100"}`` from a subprocess task
(services/runner/pulse.py stores them).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

MAX_MESSAGE_CHARS = 200
# A subprocess task's stdout line that is a heartbeat, not a log line.
LINE_PREFIX = "@laneyard heartbeat"


@dataclass(frozen=True)
class Beat:
    progress: float | None
    message: str | None


def checked(progress: float | None, message: str | None) -> Beat:
    """The beat as stored; ``ValueError`` for a progress outside 0-1 (or not a number)."""
    if progress is not None:
        if isinstance(progress, bool) or not isinstance(progress, int | float) or math.isnan(progress):
            raise ValueError(f"progress must be a number from 0 to 1, not {progress!r}")
        if not 0.0 <= progress <= 1.0:
            raise ValueError(f"progress must be from 0 to 1, not {progress!r}")
        progress = float(progress)
    if message is not None:
        message = str(message)[:MAX_MESSAGE_CHARS]
    return Beat(progress, message)


def parse_line(line: str) -> Beat | None:
    """The beat a subprocess's stdout line carries, or None if the line is not one (then it is an
    ordinary log line). A malformed heartbeat line is None too, and so is logged as it is."""
    if not line.startswith(LINE_PREFIX):
        return None
    rest = line[len(LINE_PREFIX) :].strip()
    try:
        fields = json.loads(rest) if rest else {}
        if not isinstance(fields, dict):
            return None
        return checked(fields.get("progress"), fields.get("message"))
    except ValueError:
        return None


def line_of(progress: float | None, message: str | None) -> str:
    """The stdout line a process task prints for a beat (the inverse of ``parse_line``)."""
    beat = checked(progress, message)
    fields = {k: v for k, v in (("progress", beat.progress), ("message", beat.message)) if v is not None}
    return f"{LINE_PREFIX} {json.dumps(fields)}"
