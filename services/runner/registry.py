"""Registered tasks. A runner executes only what was registered with it, by name.

    from laneyard.services.runner.registry import task

    @task("reports.build")
    async def build(ctx, month: str) -> dict: ...

Arguments arrive as keyword arguments from the job's ``args`` object; the first parameter is the
``TaskContext``. Sync functions run in a thread pool so they never block the event loop.

``@task("x", process=True)`` runs each job of the function in a fresh Python process instead
(services/runner/process_call.py): for CPU-bound work, or work that must be stoppable at its time
limit and capped at its tier's memory. ``registry.script("x", [...])`` registers a command line.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TaskDef:
    name: str
    fn: Callable[..., Any]
    is_async: bool
    # A subprocess task: the command line run with the job's args as JSON on stdin.
    argv: tuple[str, ...] | None = None


class Registry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskDef] = {}

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if name in self._tasks and self._tasks[name].fn is not fn:
            raise ValueError(f"task {name!r} is registered twice")
        self._tasks[name] = TaskDef(name, fn, inspect.iscoroutinefunction(fn))

    def script(self, name: str, argv: list[str] | tuple[str, ...]) -> None:
        """Registers a command line as a task: the job's args arrive as JSON on its stdin, every
        stdout and stderr line is stored in the job's log, and its exit code decides the outcome
        (0 COMPLETED with the last stdout line as the result if it is JSON, 100 CANCELLED,
        anything else ERROR)."""
        if not argv:
            raise ValueError(f"task {name!r} needs a command line")
        if name in self._tasks and self._tasks[name].argv != tuple(argv):
            raise ValueError(f"task {name!r} is registered twice")
        self._tasks[name] = TaskDef(name, _no_callable, False, tuple(argv))

    def task(self, name: str | None = None, *, process: bool = False) -> Callable[[F], F]:
        def decorate(fn: F) -> F:
            full_name = name or f"{fn.__module__}.{fn.__qualname__}"
            if process:
                self.script(full_name, process_argv(fn))
            else:
                self.register(full_name, fn)
            return fn

        return decorate

    def get(self, name: str) -> TaskDef | None:
        return self._tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def merge(self, other: Registry) -> None:
        for t in other._tasks.values():
            if t.argv is not None:
                self.script(t.name, t.argv)
            else:
                self.register(t.name, t.fn)


def process_argv(fn: Callable[..., Any]) -> list[str]:
    """The command line that runs ``fn`` in a process of its own: it is found there by import."""
    module, qualname = fn.__module__, fn.__qualname__
    if module == "__main__" or "<locals>" in qualname:
        raise ValueError(
            f"{qualname} cannot run with process=True: define it at the top level of an importable module"
        )
    return [sys.executable, "-m", "laneyard.services.runner.process_call", f"{module}:{qualname}"]


def _no_callable(*_: Any, **__: Any) -> None:
    raise RuntimeError("a subprocess task has no Python callable")


# The registry the ``task`` decorator fills when a user module is imported.
default_registry = Registry()
task = default_registry.task


def import_task_modules(paths: list[str]) -> None:
    """Imports the modules that register tasks (``--tasks myapp.tasks``), looking in the current
    directory first, as ``python -m`` does: the ``laneyard`` console script's sys.path starts at its
    bin/ folder instead, and the user's project would not be found."""
    if paths:
        cwd_first_on_path()
    for path in paths:
        importlib.import_module(path)


def cwd_first_on_path() -> None:
    cwd = os.getcwd()
    if not sys.path or os.path.realpath(sys.path[0] or os.curdir) != os.path.realpath(cwd):
        sys.path.insert(0, cwd)
