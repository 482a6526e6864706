"""Rate limits shared by every admission replica: run-time rates and the per-window token counters.

A counter is one document per lane, cluster or job key, ``{_id: key, w: window, left: tokens}``: taking tokens
is one conditional ``$inc`` while the window is current, or one ``$set`` conditional on the state just
read that opens a new window; both are single-document updates, atomic on MongoDB 7 and nx-27017.
"""

from __future__ import annotations

import time

from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from laneyard.shared.store.database import Database, Doc

KINDS = ("lane", "cluster", "key")


def rate_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


async def set_rate(db: Database, kind: str, name: str, rate: float) -> None:
    key = rate_id(kind, name)
    # The _id is repeated in the replacement: nx-27017 would otherwise upsert a fresh ObjectId.
    doc = {"_id": key, "kind": kind, "name": name, "rate": float(rate), "updated_at": time.time()}
    await db["throttles"].replace_one({"_id": key}, doc, upsert=True)


async def clear_rate(db: Database, kind: str, name: str) -> bool:
    return (await db["throttles"].delete_one({"_id": rate_id(kind, name)})).deleted_count > 0


async def all_rates(db: Database) -> list[Doc]:
    return [d async for d in db["throttles"].find().limit(10_000)]


def opening_allowance(limit: int, previous_limit: int, previous_left: int, previous: int, index: int) -> int:
    """Tokens window ``index`` opens with: its own, plus what the window just before left unused.

    Carrying over at most one window's worth makes the counter a token bucket of two windows: a mover
    that fell a little behind catches up instead of losing the tokens, while over any span the total
    stays within one window of rate times span.
    """
    carried = min(max(previous_left, 0), previous_limit) if previous == index - 1 else 0
    return limit + carried


async def take(db: Database, key: str, window: int, limit: int, want: int, previous_limit: int = 0) -> int:
    """Takes up to ``want`` tokens of ``window``; returns how many it got (maybe 0).

    ``limit`` is the window's own share; ``previous_limit`` the share of the window before it, whose
    unused tokens carry over (see ``opening_allowance``).
    """
    col = db["throttle_windows"]
    for _ in range(8):
        if want <= 0:
            return 0
        doc = await col.find_one_and_update(
            {"_id": key, "w": window, "left": {"$gte": want}},
            {"$inc": {"left": -want}},
            return_document=ReturnDocument.AFTER,
        )
        if doc is not None:
            return want
        current = await col.find_one({"_id": key})
        if current is None:
            want = min(want, limit)
            try:
                await col.insert_one({"_id": key, "w": window, "left": limit - want})
                return want
            except DuplicateKeyError:
                continue
        seen, left = int(current["w"]), int(current["left"])
        if seen > window:
            return 0  # another replica's clock is ahead: wait for ours to catch up
        if seen == window:
            if left <= 0:
                return 0
            want = min(want, left)
            continue
        allowance = opening_allowance(limit, previous_limit, left, seen, window)
        want = min(want, allowance)
        # Conditional on the state just read, so two replicas cannot both open the window.
        opened = await col.find_one_and_update(
            {"_id": key, "w": seen, "left": left},
            {"$set": {"w": window, "left": allowance - want}},
            return_document=ReturnDocument.AFTER,
        )
        if opened is not None:
            return want
    return 0


async def give_back(db: Database, key: str, window: int, count: int) -> None:
    """Returns unused tokens of a window that is still current (when the other limit said no)."""
    if count > 0:
        await db["throttle_windows"].update_one({"_id": key, "w": window}, {"$inc": {"left": count}})
