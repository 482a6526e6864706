"""Registered tasks. A runner executes only what was registered with it, by name.

    from services.runner.registry import task

    @task("reports.build")
    async def build(ctx, month: str) -> dict: ...

Arguments arrive as keyword arguments from the job's ``args`` object; the first parameter is the
``TaskContext``. Sync functions run in a thread pool so they never block the event loop.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class TaskDef:
    name: str
    fn: Callable[..., Any]
    is_async: bool


class Registry:
    def __init__(self) -> None:
        self._tasks: dict[str, TaskDef] = {}

    def register(self, name: str, fn: Callable[..., Any]) -> None:
        if name in self._tasks and self._tasks[name].fn is not fn:
            raise ValueError(f"task {name!r} is registered twice")
        self._tasks[name] = TaskDef(name, fn, inspect.iscoroutinefunction(fn))

    def task(self, name: str | None = None) -> Callable[[F], F]:
        def decorate(fn: F) -> F:
            self.register(name or f"{fn.__module__}.{fn.__qualname__}", fn)
            return fn

        return decorate

    def get(self, name: str) -> TaskDef | None:
        return self._tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)

    def merge(self, other: Registry) -> None:
        for t in other._tasks.values():
            self.register(t.name, t.fn)


# The registry the ``task`` decorator fills when a user module is imported.
default_registry = Registry()
task = default_registry.task


def import_task_modules(paths: list[str]) -> None:
    for path in paths:
        importlib.import_module(path)
