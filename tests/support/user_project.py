"""A user's application whose own top-level packages are named like Laneyard's folders: ``services``
and ``shared``. Its task reports which ``services`` and ``shared`` it imported."""

from __future__ import annotations

from pathlib import Path

TASK = "userapp.mark"
TASKS_MODULE = "myapp.tasks"
MARKS = {"services": "user", "shared": "user"}

_TASKS = '''"""The user's tasks, registered with Laneyard; they use the user's own services and shared."""

import services
import shared

from laneyard import TaskContext, task


@task("userapp.mark")
def mark(ctx: TaskContext) -> dict[str, str]:
    return {"services": services.MARK, "shared": shared.MARK}
'''


def write_user_project(root: Path) -> Path:
    """Writes the project under ``root`` (services/, shared/, myapp/tasks.py) and returns ``root``."""
    for package in ("services", "shared"):
        (root / package).mkdir(parents=True)
        (root / package / "__init__.py").write_text(f'"""The user\'s own {package}."""\n\nMARK = "user"\n')
    (root / "myapp").mkdir()
    (root / "myapp" / "__init__.py").write_text("")
    (root / "myapp" / "tasks.py").write_text(_TASKS)
    return root
