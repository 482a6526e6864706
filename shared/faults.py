"""Fault injection for tests only: a process dies with SIGKILL at a named point in its code.

``point("name")`` kills the current process when ``name`` is listed in ``LANEYARD_FAULTS``
(comma-separated, read once at import) and does nothing otherwise. End-to-end tests start a
service with that variable to crash it exactly between two steps that must survive a crash, e.g.
``requeue_before_publish`` (shared.lifecycle.requeue: the job is IN_QUEUE, its message unpublished).
Never set it in production.
"""

from __future__ import annotations

import os
import signal

ENV = "LANEYARD_FAULTS"

ACTIVE: frozenset[str] = frozenset(p.strip() for p in os.environ.get(ENV, "").split(",") if p.strip())


def point(name: str) -> None:
    """SIGKILLs this process if ``name`` is in ``LANEYARD_FAULTS`` (test-only); a no-op otherwise."""
    if name in ACTIVE:
        os.kill(os.getpid(), signal.SIGKILL)
