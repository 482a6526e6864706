"""Clusters: named groups of runners, addressed by a slug."""

from __future__ import annotations

import re
import secrets
import string
import time
import unicodedata

from pymongo.errors import DuplicateKeyError

from laneyard.shared.states import JobState
from laneyard.shared.store.database import Database, Doc

DEFAULT = "default"
ACTIVE_STATES = [str(JobState.IN_QUEUE), str(JobState.WAITING), str(JobState.RUNNING)]
_SUFFIX_ALPHABET = string.ascii_lowercase + string.digits
# Slugs must stay valid ``shared.models.Slug`` values (at most 63 characters) with "-xxxx" appended.
_BASE_MAX = 58


class ClusterBusy(Exception):
    def __init__(self, slug: str, active: int) -> None:
        super().__init__(f"cluster {slug!r} still has {active} queued or running job(s)")
        self.active = active


def slugify(name: str) -> str:
    # "Ünïcode" becomes "unicode" rather than "n-code": accents are split off and dropped.
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", plain.lower()).strip("-")[:_BASE_MAX].strip("-")
    return base or "cluster"


def _with_suffix(base: str) -> str:
    return base + "-" + "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(4))


async def ensure_default(db: Database) -> None:
    try:
        await db["clusters"].insert_one({"_id": DEFAULT, "name": "Default", "created_at": time.time()})
    except DuplicateKeyError:
        pass


async def get(db: Database, slug: str) -> Doc | None:
    return await db["clusters"].find_one({"_id": slug})


async def create(db: Database, name: str) -> Doc:
    base = slugify(name)
    for _ in range(8):
        doc: Doc = {"_id": _with_suffix(base), "name": name, "created_at": time.time()}
        try:
            await db["clusters"].insert_one(doc)
        except DuplicateKeyError:
            continue  # 36**4 suffixes: a clash is rare, eight in a row means something else is wrong
        return doc
    raise RuntimeError(f"could not find a free slug for {name!r}")


async def all_clusters(db: Database, limit: int = 1000) -> list[Doc]:
    return [d async for d in db["clusters"].find().sort("_id", 1).limit(limit)]


async def active_jobs(db: Database, slug: str) -> int:
    return await db["jobs"].count_documents({"cluster": slug, "state": {"$in": ACTIVE_STATES}})


async def delete(db: Database, slug: str) -> bool:
    """False if there is no such cluster; raises ``ClusterBusy`` while it has unfinished jobs.

    The cluster is marked ``deleting`` before the jobs are counted, so a replica whose cache has
    expired refuses new jobs while the count runs; a replica with a fresh cache may still admit one
    for up to its cache lifetime, which the count cannot see.
    """
    col = db["clusters"]
    if await col.find_one_and_update({"_id": slug}, {"$set": {"deleting": time.time()}}) is None:
        return False
    active = await active_jobs(db, slug)
    if active:
        await col.update_one({"_id": slug}, {"$unset": {"deleting": ""}})
        raise ClusterBusy(slug, active)
    await col.delete_one({"_id": slug})
    return True
