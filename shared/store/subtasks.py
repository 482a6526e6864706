"""Sub-tasks: the children a parent job spawned, kept in the parent's document, and settling it.

A parent whose own function has returned stays RUNNING with ``awaiting_subtasks`` set and holds no
runner slot. Every child's end is written into the parent's document with one atomic update that
returns the document after it; so does the parent's entering the wait. Whichever of those writes
comes last sees the whole picture and finishes the parent, through ``jobs.transition`` (whose
filter on ``awaiting_subtasks`` lets only one of two racing writers do it).

Children are registered in the parent *before* they are admitted, so a child that ends at once
still finds its place. Only children of the parent's current attempt count.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from pymongo import ReturnDocument

from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store.database import Database, Doc

log = logging.getLogger(__name__)

SUBTASK_FAILED = "subtask failed"
FAILED = frozenset({str(JobState.ERROR), str(JobState.CANCELLED)})

# ``shared.store.jobs.transition``, passed in: that module calls this one.
Transition = Callable[..., Awaitable[Doc | None]]


async def register(db: Database, parent_id: str, attempt: int, child_id: str, *, optional: bool) -> bool:
    """Records a child about to be admitted; False if the parent is no longer running that attempt."""
    entry = {"attempt": attempt, "optional": optional, "at": time.time()}
    doc = await db["jobs"].find_one_and_update(
        {"_id": parent_id, "state": str(JobState.RUNNING), "attempt": attempt},
        {"$set": {f"children.{child_id}": entry}},
        projection={"_id": True},
    )
    return doc is not None


async def unregister(db: Database, parent_id: str, child_id: str) -> None:
    """Removes a child that was refused admission, so the parent does not wait for it."""
    await db["jobs"].update_one({"_id": parent_id}, {"$unset": {f"children.{child_id}": ""}})


async def await_children(
    db: Database, parent_id: str, attempt: int, runner_id: str, result: Any, transition: Transition
) -> Doc | None:
    """The parent's function returned: it waits for its children, or finishes now if they all have."""
    parent = await db["jobs"].find_one_and_update(
        {"_id": parent_id, "state": str(JobState.RUNNING), "attempt": attempt, "runner": runner_id},
        {"$set": {"awaiting_subtasks": True, "result": result, "awaiting_since": time.time()}},
        projection={"args": False},
        return_document=ReturnDocument.AFTER,
    )
    if parent is not None:
        await settle(db, parent, transition)
    return parent


async def child_ended(db: Database, child: Doc, transition: Transition) -> None:
    """Writes a child's end into its parent, then settles the parent. Never raises: the child's
    own transition has happened, and its caller must not take it for a failure."""
    parent_id, child_id = child.get("parent_id"), child["_id"]
    for attempt in range(3):
        try:
            parent = await db["jobs"].find_one_and_update(
                {"_id": parent_id, f"children.{child_id}": {"$exists": True}},
                {"$set": {f"children.{child_id}.state": child["state"]}},
                projection={"args": False},
                return_document=ReturnDocument.AFTER,
            )
            if parent is not None:
                await settle(db, parent, transition)
            return
        except Exception:
            log.exception("recording a sub-task's end in its parent failed (try %d)", attempt + 1,
                          extra={"job_id": parent_id})  # fmt: skip


async def settle(db: Database, parent: Doc, transition: Transition) -> None:
    if parent.get("state") != JobState.RUNNING or not parent.get("awaiting_subtasks"):
        return
    attempt = int(parent["attempt"])
    mine = {
        cid: c for cid, c in (parent.get("children") or {}).items() if int(c.get("attempt") or 0) == attempt
    }
    failed = [cid for cid, c in mine.items() if c.get("state") in FAILED and not c.get("optional")]
    where = {"attempt": attempt, "awaiting_subtasks": True}
    if failed:
        # Fails at once, without waiting for the other children (which are left to run).
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        error = f"subtask {failed[0]} ended {mine[failed[0]]['state']}{more}"
        fields = {"awaiting_subtasks": False, "reason": SUBTASK_FAILED, "error": error}
        await transition(
            db, parent["_id"], sources={JobState.RUNNING}, target=JobState.ERROR, attempt=attempt,
            where=where, fields=fields,
        )  # fmt: skip
    elif all(c.get("state") in TERMINAL for c in mine.values()):
        await transition(
            db, parent["_id"], sources={JobState.RUNNING}, target=JobState.COMPLETED, attempt=attempt,
            where=where, fields={"awaiting_subtasks": False},
        )  # fmt: skip
