"""Clusters through the API: slugs from names, listing, and deletion only while nothing is unfinished."""

from __future__ import annotations

import asyncio
import re

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.states import JobState
from laneyard.shared.store import jobs
from laneyard.shared.store.database import Database
from tests.support.admission import api
from tests.support.broker import delete_queues

BODY = {"task": "demo.noop", "tier": "TINY"}


async def test_create_list_get_and_delete_clusters(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus) as (client, _):
        made = await client.post("/v1/clusters", json={"name": "GPU Farm"})
        assert made.status_code == 201, made.text
        slug = made.json()["slug"]
        assert re.fullmatch(r"gpu-farm-[a-z0-9]{4}", slug)
        assert made.json()["name"] == "GPU Farm"
        odd = (await client.post("/v1/clusters", json={"name": "  ¡¡Ünïcode!! -- Rack 7  "})).json()
        assert re.fullmatch(r"unicode-rack-7-[a-z0-9]{4}", odd["slug"]), odd
        symbols = (await client.post("/v1/clusters", json={"name": "%%%"})).json()
        assert re.fullmatch(r"cluster-[a-z0-9]{4}", symbols["slug"])
        long = (await client.post("/v1/clusters", json={"name": "x" * 200})).json()
        assert len(long["slug"]) <= 63
        for bad in ({}, {"name": ""}, {"name": "   "}, {"name": "a", "extra": 1}):
            assert (await client.post("/v1/clusters", json=bad)).status_code == 422, bad

        listed = {c["slug"] for c in (await client.get("/v1/clusters")).json()["clusters"]}
        assert {"default", slug, odd["slug"], symbols["slug"], long["slug"]} <= listed
        assert (await client.get(f"/v1/clusters/{slug}")).json()["name"] == "GPU Farm"
        missing = await client.get("/v1/clusters/nope-0000")
        assert missing.status_code == 404 and "nope-0000" in missing.json()["detail"]

        default = await client.delete("/v1/clusters/default")
        assert default.status_code == 409 and "default" in default.json()["detail"]
        assert (await client.delete("/v1/clusters/nope-0000")).status_code == 404

        job_id = (await client.post("/v1/jobs", json={**BODY, "cluster": slug})).json()["id"]
        busy = await client.delete(f"/v1/clusters/{slug}")
        assert busy.status_code == 409
        assert "1 queued or running job" in busy.json()["detail"] and slug in busy.json()["detail"]
        # The refused deletion leaves the cluster usable.
        assert (await client.post("/v1/jobs", json={**BODY, "cluster": slug})).status_code == 202
        for doc in await db["jobs"].find({"cluster": slug}).to_list():
            await jobs.transition(
                db, doc["_id"], sources={JobState.IN_QUEUE}, target=JobState.CANCELLED, attempt=1
            )
        assert job_id

        assert (await client.delete(f"/v1/clusters/{slug}")).status_code == 204
        assert (await client.get(f"/v1/clusters/{slug}")).status_code == 404
        refused = await client.post("/v1/jobs", json={**BODY, "cluster": slug})
        assert refused.status_code == 404 and slug in refused.json()["detail"]
    await delete_queues(settings, bus.names.lane_queue("main", slug))


async def test_a_replica_refuses_a_deleted_cluster_once_its_cache_expires(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with (
        api(settings, db, bus, admission_cache_seconds=0.3) as (replica_a, _),
        api(settings, db, bus, admission_cache_seconds=0.3) as (replica_b, _),
    ):
        slug = (await replica_a.post("/v1/clusters", json={"name": "Edge"})).json()["slug"]
        job = (await replica_b.post("/v1/jobs", json={**BODY, "cluster": slug})).json()
        await jobs.transition(
            db, job["id"], sources={JobState.IN_QUEUE}, target=JobState.CANCELLED, attempt=1
        )
        assert (await replica_a.delete(f"/v1/clusters/{slug}")).status_code == 204
        await asyncio.sleep(0.4)  # replica B learns of the deletion when its cache entry expires
        refused = await replica_b.post("/v1/jobs", json={**BODY, "cluster": slug})
        assert refused.status_code == 404, refused.text
    await delete_queues(settings, bus.names.lane_queue("main", slug))
