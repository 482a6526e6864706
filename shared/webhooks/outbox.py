"""Creating an ended job's deliveries: the durable half of at-least-once delivery.

The write that ends a job sets ``webhook_due`` on it (``shared.lifecycle``) when it may have
webhooks, in the same single-document update as its state. Whoever ended it then calls ``settle``
at once: it creates the job's deliveries (insert-if-absent under derived ids) and only then clears
the mark. A process that dies in between leaves the mark, and the lease holder's sweep settles the
job later; settling twice creates nothing new. The deliveries are sent by the dispatcher.
"""

from __future__ import annotations

import logging
import time

from laneyard.shared import retention
from laneyard.shared.store import webhooks as store
from laneyard.shared.store.database import Database, Doc
from laneyard.shared.webhooks import payload

log = logging.getLogger(__name__)


def delivery_docs(job: Doc, subscriptions: list[Doc], now: float) -> list[Doc]:
    docs = []
    for target in payload.targets_for(job, subscriptions):
        delivery = payload.delivery_id(job["_id"], target)
        docs.append(
            {
                "_id": delivery,
                "job_id": job["_id"],
                "lane": job.get("lane"),
                "cluster": job.get("cluster"),
                "url": target.url,
                "source": target.source,
                "job_state": job.get("state"),
                "body": payload.body(job, delivery).decode(),
                "state": store.PENDING,
                "created_at": now,
                "next_at": now,
                "attempts_made": 0,
                "attempts": [],
            }
        )
        expire_at = retention.as_datetime(job.get("expire_at"))
        if expire_at is not None:  # a job kept for its sub-tasks has none yet; nor do its deliveries
            docs[-1]["expire_at"] = expire_at
    return docs


async def settle(db: Database, job: Doc, subscriptions: list[Doc] | None = None) -> int:
    """Creates the deliveries of ``job`` (a document the ending write returned, or one read after
    it), then clears its mark; how many deliveries were new."""
    subs = await store.subscriptions(db) if subscriptions is None else subscriptions
    created = await store.create(db, delivery_docs(job, subs, time.time()))
    await store.clear_mark(db, job["_id"])
    return created


async def settle_id(db: Database, job_id: str) -> int:
    job = await db["jobs"].find_one({"_id": job_id}, projection={"args": False})
    if job is None or not job.get(store.DUE_MARK):
        return 0
    return await settle(db, job)


async def sweep(db: Database, limit: int = 200) -> int:
    """Settles jobs whose ending process died before it did; how many deliveries were new."""
    jobs = await store.marked(db, limit)
    if not jobs:
        return 0
    subs = await store.subscriptions(db)
    created = 0
    for job in jobs:
        created += await settle(db, job, subs)
    if created:
        log.warning("created %d webhook deliveries that their job's ending process did not", created)
    return created
