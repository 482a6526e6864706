"""Laneyard: a resource-aware, fair, observable distributed job scheduler.

The public API is what ``__all__`` names; every other module may change between releases::

    from laneyard import Client

    with Client() as client:
        print(client.submit("demo.echo", {"text": "hi"}).wait(timeout=60))

The repository's ``services/`` and ``shared/`` folders are this package's ``laneyard.services``
(admission, dispatcher, runner, CLI) and ``laneyard.shared`` (the core), through symlinks, so
that an installed Laneyard adds one import package, ``laneyard``, and nothing else.
"""

from typing import TYPE_CHECKING, Any

from laneyard.client import AmqpSubmitter, AsyncClient, Client, Job, JobSpec, RetryPolicy, SubmitOptions
from laneyard.errors import (
    JobCancelled,
    JobFailed,
    JobNotFound,
    LaneyardError,
    Refused,
    Unauthorized,
    Unavailable,
    WaitTimeout,
)
from laneyard.shared.states import JobState
from laneyard.shared.tiers import Tier
from laneyard.shared.views.events import Event

if TYPE_CHECKING:
    from laneyard.services.runner.context import TaskContext
    from laneyard.tasks import Task, TaskCall, task

__version__ = "0.1.0"

# What task modules use is loaded on first use: an application that only submits jobs does not
# load the runner.
_LAZY = {
    "TaskContext": "laneyard.services.runner.context",
    "Task": "laneyard.tasks",
    "TaskCall": "laneyard.tasks",
    "task": "laneyard.tasks",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'laneyard' has no attribute {name!r}")


__all__ = [
    "AmqpSubmitter",
    "AsyncClient",
    "Client",
    "Event",
    "Job",
    "JobCancelled",
    "JobFailed",
    "JobNotFound",
    "JobSpec",
    "JobState",
    "LaneyardError",
    "Refused",
    "RetryPolicy",
    "SubmitOptions",
    "Task",
    "TaskCall",
    "TaskContext",
    "Tier",
    "Unauthorized",
    "Unavailable",
    "WaitTimeout",
    "task",
]
