"""What running a task came to: the state to record, and its result or why it failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from laneyard.shared.states import JobState

# A result is stored as JSON of at most this many characters (and read whole from a subprocess's
# last stdout line up to this length).
MAX_RESULT_CHARS = 256 * 1024


@dataclass
class Outcome:
    state: JobState
    result: Any = None
    error: str | None = None
    reason: str | None = None  # a shared.reasons.Reason (or "exit code N")
    subtasks: list[str] = field(default_factory=list)  # spawned by the task: the job waits for them
