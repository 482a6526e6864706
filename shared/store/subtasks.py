"""Sub-tasks: the children a parent job spawned, kept in the parent's document, and settling it.

A parent whose own function has returned goes from RUNNING to AWAITING_SUBTASKS and holds no
runner slot. Every child's end is written into the parent's document with one atomic update that
returns the document after it; so does the parent's entering the wait. Whichever of those writes
comes last sees the whole picture and finishes the parent (``shared.lifecycle``), with a transition
whose filter on AWAITING_SUBTASKS lets only one of two racing writers do it.

Children are registered in the parent *before* they are admitted, so a child that ends at once
still finds its place. Only children of the parent's current attempt count.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pymongo import ReturnDocument

from laneyard.shared.reasons import Reason
from laneyard.shared.states import TERMINAL, JobState
from laneyard.shared.store.database import Database, Doc

log = logging.getLogger(__name__)

SUBTASK_FAILED = Reason.SUBTASK_FAILED
FAILED = frozenset({str(JobState.ERROR), str(JobState.CANCELLED)})


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


async def record_child_end(db: Database, child: Doc) -> Doc | None:
    """Writes a child's end into its parent's list of children; the parent after it, or None if the
    child is not (or no longer) listed there."""
    child_id = child["_id"]
    return await db["jobs"].find_one_and_update(
        {"_id": child.get("parent_id"), f"children.{child_id}": {"$exists": True}},
        {"$set": {f"children.{child_id}.state": child["state"]}},
        projection={"args": False},
        return_document=ReturnDocument.AFTER,
    )


def parent_outcome(parent: Doc) -> tuple[JobState, dict[str, Any]] | None:
    """How a parent waiting for its sub-tasks ends, given its children as recorded; None while it
    waits. One required child failing fails it at once (the others are left to run); it completes
    once every child of its current attempt has ended."""
    if parent.get("state") != JobState.AWAITING_SUBTASKS:
        return None
    attempt = int(parent["attempt"])
    mine = {
        cid: c for cid, c in (parent.get("children") or {}).items() if int(c.get("attempt") or 0) == attempt
    }
    failed = [cid for cid, c in mine.items() if c.get("state") in FAILED and not c.get("optional")]
    if failed:
        more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
        error = f"subtask {failed[0]} ended {mine[failed[0]]['state']}{more}"
        return JobState.ERROR, {"reason": SUBTASK_FAILED, "error": error}
    if all(c.get("state") in TERMINAL for c in mine.values()):
        return JobState.COMPLETED, {}
    return None
