"""``@task``: registers a function for runners to execute, and gives it typed ``submit`` methods.

The decorated function stays callable as before. Its handle's ``submit(client, ...)`` takes the
function's own arguments (all but the first, the task context), checked by mypy through ParamSpec
as Dramatiq's ``Actor.send`` is::

    @task("reports.build")
    async def build(ctx: TaskContext, month: str, *, draft: bool = False) -> dict[str, int]: ...

    job = build.submit(client, "2026-10", draft=True)
    job = build.options(lane="reports", priority=8).submit(client, month="2026-10")
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, TypeVar

from typing_extensions import Unpack

from laneyard.client.calls import JobSpec, SubmitOptions
from laneyard.services.runner.registry import default_registry

if TYPE_CHECKING:
    from laneyard.client.aio import AsyncClient
    from laneyard.client.job import Job
    from laneyard.client.sync import Client
    from laneyard.errors import Refused

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class TaskCall:
    """One job of a task with its arguments bound, for ``submit_many``."""

    spec: JobSpec


class Task(Generic[P, R]):
    """A registered task: call it like the function, or submit it as a job."""

    def __init__(self, name: str, fn: Callable[Concatenate[Any, P], R], options: SubmitOptions) -> None:
        self.name = name
        self.fn = fn
        self._options = options
        self._signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __call__(self, ctx: Any, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(ctx, *args, **kwargs)

    def __repr__(self) -> str:
        return f"Task({self.name!r})"

    def options(self, **options: Unpack[SubmitOptions]) -> Task[P, R]:
        """The same task with submission options (lane, priority, tier, ...) for its jobs."""
        return Task(self.name, self.fn, {**self._options, **options})

    def call(self, *args: P.args, **kwargs: P.kwargs) -> TaskCall:
        """The job this call would be, without submitting it (for ``submit_many``)."""
        return TaskCall({**self._options, "task": self.name, "args": self._args(args, kwargs)})

    def submit(self, client: Client, /, *args: P.args, **kwargs: P.kwargs) -> Job:
        return client.submit(self.name, self._args(args, kwargs), **self._options)

    async def submit_async(self, client: AsyncClient, /, *args: P.args, **kwargs: P.kwargs) -> Job:
        return await client.submit(self.name, self._args(args, kwargs), **self._options)

    def submit_many(self, client: Client, calls: Iterable[TaskCall]) -> list[Job | Refused]:
        return client.submit_many(call.spec for call in calls)

    async def submit_many_async(self, client: AsyncClient, calls: Iterable[TaskCall]) -> list[Job | Refused]:
        return await client.submit_many(call.spec for call in calls)

    def _args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments as the job's ``args`` object: positional ones named by the signature."""
        bound = self._signature.bind(None, *args, **kwargs)
        first = next(iter(self._signature.parameters))
        out = dict(bound.arguments)
        out.pop(first, None)
        return out


def task(
    name: str | None = None, *, process: bool = False, **options: Unpack[SubmitOptions]
) -> Callable[[Callable[Concatenate[Any, P], R]], Task[P, R]]:
    """Registers the function as task ``name`` (default ``module.qualname``) for runners started
    with ``--tasks`` naming its module. ``process=True`` runs each job in a fresh Python process
    (a hard stop at the time limit, memory capped at the tier's). ``options`` are defaults for the
    jobs ``submit`` makes."""

    def decorate(fn: Callable[Concatenate[Any, P], R]) -> Task[P, R]:
        full_name = name or f"{fn.__module__}.{fn.__qualname__}"
        default_registry.task(full_name, process=process)(fn)
        return Task(full_name, fn, options)

    return decorate
