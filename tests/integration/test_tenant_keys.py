"""Keys limited to lanes and clusters: one tenant's key submits, reads, cancels and sees logs only in
its lanes of its clusters; everything else is as unknown to it as a missing id. Every documented
operation of the API is called with such a key (the test checks it missed none)."""

from __future__ import annotations

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.models import JobMessage
from laneyard.shared.settings import Settings
from laneyard.shared.store import clusters, dead_letters, job_record
from laneyard.shared.store.database import Database
from tests.support.admission import api
from tests.support.broker import delete_queues
from tests.support.events import events_in, sequenced
from tests.support.routes import RouteLog

TENANT = {"Authorization": "Bearer tenant-key"}
ADMIN = {"Authorization": "Bearer admin-key"}


def job_body(lane: str, cluster: str, job_id: str) -> bytes:
    return JobMessage(
        id=job_id, task="demo.noop", args={}, lane=lane, cluster=cluster, priority=5, tier="TINY",
        max_execution_time=30,
    ).model_dump_json().encode()  # fmt: skip


async def test_a_tenant_key_reaches_only_its_lanes_and_clusters_on_every_route(
    settings: Settings, db: Database, bus: Bus
) -> None:
    farm = str((await clusters.create(db, "gpu farm"))["_id"])
    keys = f"tenant-key:submit,read lanes=reports clusters={farm};admin-key:admin"
    mine = {"task": "demo.noop", "tier": "TINY", "lane": "reports", "cluster": farm}
    theirs = {"task": "demo.noop", "tier": "TINY", "lane": "main", "cluster": "default"}
    try:
        async with api(settings, db, bus, api_keys=keys, webhook_secret="whsec") as (client, _):
            routes = RouteLog((await client.get("/openapi.json")).json())
            client.event_hooks["request"].append(routes.record)

            # Submitting: only into its own lane of its own cluster.
            own = await client.post("/v1/jobs", json=mine, headers=TENANT)
            assert own.status_code == 202, own.text
            own_id = own.json()["id"]
            for lane, cluster in (("main", "default"), ("reports", "default"), ("main", farm)):
                refused = await client.post(
                    "/v1/jobs", json={**mine, "lane": lane, "cluster": cluster}, headers=TENANT
                )
                assert refused.status_code == 403 and "may not submit" in refused.json()["detail"]
            other = await client.post("/v1/jobs", json={**theirs, "idempotency_key": "k-1"}, headers=ADMIN)
            other_id = other.json()["id"]
            # Another tenant's idempotency key neither makes a second job nor hands out the first's id.
            clash = await client.post("/v1/jobs", json={**mine, "idempotency_key": "k-1"}, headers=TENANT)
            assert clash.status_code == 409 and other_id not in clash.text
            batch = await client.post("/v1/jobs/batch", json={"jobs": [mine, theirs]}, headers=TENANT)
            assert batch.status_code == 207
            assert [item["status"] for item in batch.json()["jobs"]] == [202, 403]

            # Reading jobs and their logs: another tenant's job does not exist.
            listed = (await client.get("/v1/jobs", headers=TENANT)).json()["jobs"]
            assert listed and {(j["lane"], j["cluster"]) for j in listed} == {("reports", farm)}
            assert other_id not in {j["id"] for j in listed}
            assert (await client.get("/v1/jobs?lane=main", headers=TENANT)).status_code == 403
            assert (await client.get("/v1/jobs?cluster=default", headers=TENANT)).status_code == 403
            assert (await client.get(f"/v1/jobs?cluster={farm}", headers=TENANT)).json()["jobs"]
            assert (await client.get(f"/v1/jobs/{own_id}", headers=TENANT)).status_code == 200
            hidden = await client.get(f"/v1/jobs/{other_id}", headers=TENANT)
            assert hidden.status_code == 404 and hidden.json()["detail"] == f"no job {other_id!r}"
            assert (await client.get(f"/v1/jobs/{own_id}/logs", headers=TENANT)).status_code == 200
            assert (await client.get(f"/v1/jobs/{other_id}/logs", headers=TENANT)).status_code == 404
            assert (await client.post(f"/v1/jobs/{other_id}/cancel", headers=TENANT)).status_code == 404
            assert (await client.get(f"/v1/jobs/{other_id}", headers=ADMIN)).json()["state"] == "IN_QUEUE"
            assert (await client.post(f"/v1/jobs/{own_id}/cancel", headers=TENANT)).status_code == 200

            # Clusters, status and throttles show only its own.
            shown = (await client.get("/v1/clusters", headers=TENANT)).json()["clusters"]
            assert [c["slug"] for c in shown] == [farm]
            assert (await client.get(f"/v1/clusters/{farm}", headers=TENANT)).status_code == 200
            assert (await client.get("/v1/clusters/default", headers=TENANT)).status_code == 404
            assert (await client.post("/v1/clusters", json={"name": "x"}, headers=TENANT)).status_code == 403
            assert (await client.delete(f"/v1/clusters/{farm}", headers=TENANT)).status_code == 403
            status = (await client.get("/v1/status", headers=TENANT)).json()
            assert {(row["lane"], row["cluster"]) for row in status["lanes"]} == {("reports", farm)}
            assert set(status["clusters"]) <= {farm}
            for kind, name in (("lanes", "main"), ("lanes", "reports"), ("clusters", "default")):
                assert (
                    await client.put(f"/v1/throttles/{kind}/{name}", json={"rate": 50}, headers=ADMIN)
                ).is_success
            throttles = (await client.get("/v1/throttles", headers=TENANT)).json()
            assert throttles["lanes"] == {"reports": 50.0} and throttles["clusters"] == {}
            for kind, name in (("lanes", "reports"), ("clusters", farm)):
                put = await client.put(f"/v1/throttles/{kind}/{name}", json={"rate": 1}, headers=TENANT)
                assert put.status_code == 403
                assert (
                    await client.delete(f"/v1/throttles/{kind}/{name}", headers=TENANT)
                ).status_code == 403

            # Fairness weights: set by an admin only; a tenant sees those of its lanes.
            for lane in ("main", "reports"):
                weighted = await client.put(
                    f"/v1/fairness/{lane}/tenant:a", json={"weight": 2}, headers=ADMIN
                )
                assert weighted.is_success
            fair = (await client.get("/v1/fairness", headers=TENANT)).json()["weights"]
            assert fair == [{"lane": "reports", "key": "tenant:a", "weight": 2.0}]
            assert (
                await client.put("/v1/fairness/reports/tenant:a", json={"weight": 9}, headers=TENANT)
            ).status_code == 403
            assert (await client.delete("/v1/fairness/reports/tenant:a", headers=TENANT)).status_code == 403
            assert (await client.delete("/v1/fairness/main/tenant:a", headers=ADMIN)).status_code == 204
            # Dead letters: those of its jobs only; an unreadable message belongs to no tenant.
            own_dead = await dead_letters.record(
                db, source="runner", reason="boom", body=job_body("reports", farm, "a" * 32)
            )
            their_dead = await dead_letters.record(
                db, source="runner", reason="boom", body=job_body("main", "default", "b" * 32)
            )
            unreadable = await dead_letters.record(db, source="admission", reason="not JSON", body=b"{nope")
            items = (await client.get("/v1/dead-letters", headers=TENANT)).json()["items"]
            assert [item["id"] for item in items] == [own_dead]
            assert (await client.get(f"/v1/dead-letters/{own_dead}", headers=TENANT)).status_code == 200
            for hidden_id in (their_dead, unreadable):
                assert (await client.get(f"/v1/dead-letters/{hidden_id}", headers=TENANT)).status_code == 404
            assert (
                await client.post(f"/v1/dead-letters/{own_dead}/replay", headers=TENANT)
            ).status_code == 403
            admin_items = (await client.get("/v1/dead-letters", headers=ADMIN)).json()["items"]
            assert len(admin_items) == 3

            # Schedules: made, seen and changed only in its own lanes.
            every = {"every": 3600}
            made = await client.post("/v1/schedules", json={**mine, **every}, headers=TENANT)
            assert made.status_code == 201, made.text
            own_schedule = made.json()["id"]
            refused = await client.post("/v1/schedules", json={**theirs, **every}, headers=TENANT)
            assert refused.status_code == 403
            after_theirs = await client.post(
                "/v1/schedules", json={**mine, "start_after": other_id}, headers=TENANT
            )
            assert after_theirs.status_code == 422
            their_schedule = (
                await client.post("/v1/schedules", json={**theirs, **every}, headers=ADMIN)
            ).json()["id"]
            seen = (await client.get("/v1/schedules", headers=TENANT)).json()["schedules"]
            assert [s["id"] for s in seen] == [own_schedule]
            for action in ("pause", "resume"):
                assert (
                    await client.post(f"/v1/schedules/{their_schedule}/{action}", headers=TENANT)
                ).status_code == 404
                assert (
                    await client.post(f"/v1/schedules/{own_schedule}/{action}", headers=TENANT)
                ).status_code == 200
            assert (await client.get(f"/v1/schedules/{their_schedule}", headers=TENANT)).status_code == 404
            assert (await client.get(f"/v1/schedules/{own_schedule}", headers=TENANT)).status_code == 200
            past = {"from": "2020-01-01T00:00:00Z", "to": "2020-01-01T01:00:00Z"}
            for action, body in (("trigger", {"overlap": "allow"}), ("backfill", past)):
                assert (
                    await client.post(f"/v1/schedules/{their_schedule}/{action}", json=body, headers=TENANT)
                ).status_code == 404
                assert (
                    await client.post(f"/v1/schedules/{own_schedule}/{action}", json=body, headers=TENANT)
                ).status_code == 200
            assert (await client.delete(f"/v1/schedules/{their_schedule}", headers=TENANT)).status_code == 404
            assert (await client.get(f"/v1/schedules/{their_schedule}", headers=ADMIN)).status_code == 200
            assert (await client.delete(f"/v1/schedules/{own_schedule}", headers=TENANT)).status_code == 204

            # Webhooks: subscriptions only to its own lanes of its clusters, deliveries of its jobs only.
            hook = {"url": "https://hooks.example.com/x", "lane": "reports", "cluster": farm}
            own_hook = await client.post("/v1/webhooks", json=hook, headers=TENANT)
            assert own_hook.status_code == 201, own_hook.text
            own_hook_id = own_hook.json()["id"]
            for outside in ({"lane": "main"}, {"cluster": "default"}, {"cluster": None}):
                refused = await client.post("/v1/webhooks", json={**hook, **outside}, headers=TENANT)
                assert refused.status_code == 403 and "may not subscribe" in refused.json()["detail"]
            their_hook = await client.post("/v1/webhooks", json={**hook, "lane": "main"}, headers=ADMIN)
            their_hook_id = their_hook.json()["id"]
            hooks = (await client.get("/v1/webhooks", headers=TENANT)).json()["webhooks"]
            assert [w["id"] for w in hooks] == [own_hook_id]
            assert (await client.get(f"/v1/webhooks/{their_hook_id}", headers=TENANT)).status_code == 404
            assert (await client.get(f"/v1/webhooks/{own_hook_id}", headers=TENANT)).status_code == 200
            assert (await client.get(f"/v1/jobs/{other_id}/webhooks", headers=TENANT)).status_code == 404
            assert (await client.get(f"/v1/jobs/{own_id}/webhooks", headers=TENANT)).status_code == 200
            assert (await client.delete(f"/v1/webhooks/{their_hook_id}", headers=TENANT)).status_code == 404
            assert (await client.delete(f"/v1/webhooks/{own_hook_id}", headers=TENANT)).status_code == 204

            # Events: the stream carries only its jobs' state changes.
            await sequenced(db)
            caught_up = {"follow": "false", "last_event_id": "0"}
            own_events = events_in(await client.get("/v1/events", params=caught_up, headers=TENANT))
            assert own_events and {(e.lane, e.cluster) for e in own_events} == {("reports", farm)}
            assert {e.id for e in own_events} >= {own_id}
            all_events = events_in(await client.get("/v1/events", params=caught_up, headers=ADMIN))
            assert other_id in {e.id for e in all_events}
            for outside in ({"lane": "main"}, {"cluster": "default"}):
                refused = await client.get("/v1/events", params={**caught_up, **outside}, headers=TENANT)
                assert refused.status_code == 403 and "may not read events" in refused.json()["detail"]

            # Pauses: a tenant pauses and resumes only its lanes of its clusters, sees only those
            # pauses, and cannot drain a cluster.
            mine_q, theirs_q = {"cluster": farm}, {"cluster": "default"}
            paused = await client.post("/v1/lanes/reports/pause", params=mine_q, headers=TENANT)
            assert paused.status_code == 200 and paused.json()["paused"] is True, paused.text
            for lane, params in (("main", mine_q), ("reports", theirs_q), ("reports", {})):
                refused = await client.post(f"/v1/lanes/{lane}/pause", params=params, headers=TENANT)
                assert refused.status_code == 403 and "may not pause" in refused.json()["detail"]
            assert (await client.post("/v1/lanes/main/pause", params=theirs_q, headers=ADMIN)).is_success
            assert (await client.post(f"/v1/clusters/{farm}/pause", headers=TENANT)).status_code == 403
            assert (await client.post("/v1/clusters/default/pause", headers=ADMIN)).is_success
            seen_pauses = (await client.get("/v1/pauses", headers=TENANT)).json()["pauses"]
            assert [(p["lane"], p["cluster"]) for p in seen_pauses] == [("reports", farm)]
            assert len((await client.get("/v1/pauses", headers=ADMIN)).json()["pauses"]) == 3
            status = (await client.get("/v1/status", headers=TENANT)).json()
            assert [row.get("paused") for row in status["lanes"]] == [True]
            assert (await client.post(f"/v1/clusters/{farm}/resume", headers=TENANT)).status_code == 403
            refused = await client.post("/v1/lanes/main/resume", params=theirs_q, headers=TENANT)
            assert refused.status_code == 403
            resumed = await client.post("/v1/lanes/reports/resume", params=mine_q, headers=TENANT)
            assert resumed.status_code == 200 and resumed.json()["paused"] is False
            assert (await client.post("/v1/clusters/default/resume", headers=ADMIN)).is_success
            assert (await client.post("/v1/lanes/main/resume", params=theirs_q, headers=ADMIN)).is_success

            # Key rates belong to no lane: readable by every key, set only by an admin.
            rate = {"per_second": 5}
            assert (await client.put("/v1/rates/api:stripe", json=rate, headers=ADMIN)).is_success
            assert (await client.get("/v1/rates", headers=TENANT)).json()["rates"] == {"api:stripe": 5.0}
            put = await client.put("/v1/rates/api:stripe", json={"per_second": 1}, headers=TENANT)
            assert put.status_code == 403
            assert (await client.delete("/v1/rates/api:stripe", headers=TENANT)).status_code == 403
            assert (await client.delete("/v1/rates/api:stripe", headers=ADMIN)).status_code == 204

            # Concurrency limits belong to no lane either: read by every key, set only by an admin.
            limit = {"max_running": 3}
            assert (await client.put("/v1/concurrency/db:*", json=limit, headers=ADMIN)).is_success
            assert (await client.get("/v1/concurrency", headers=TENANT)).json()["limits"] == {"db:*": 3}
            put = await client.put("/v1/concurrency/db:mine", json={"max_running": 99}, headers=TENANT)
            assert put.status_code == 403
            assert (await client.delete("/v1/concurrency/db:*", headers=TENANT)).status_code == 403
            assert (await client.delete("/v1/concurrency/db:*", headers=ADMIN)).status_code == 204

            assert (await client.get("/healthz")).status_code == 200
            assert routes.missed() == set(), "operations this test does not call with a tenant key"
    finally:
        await delete_queues(settings, bus.names.lane_queue("reports", farm))


async def test_a_key_bound_to_a_fairness_key_submits_its_jobs_under_it(
    settings: Settings, db: Database, bus: Bus
) -> None:
    keys = "acme-key:submit,read lanes=shared fairness=tenant:acme"
    acme = {"Authorization": "Bearer acme-key"}
    job = {"task": "demo.noop", "tier": "TINY", "lane": "shared"}
    async with api(settings, db, bus, api_keys=keys) as (client, _):
        made = await client.post("/v1/jobs", json=job, headers=acme)
        assert made.status_code == 202, made.text
        stored = await job_record.read(db, made.json()["id"])
        assert stored is not None and stored.fairness_key == "tenant:acme"
        same = await client.post("/v1/jobs", json={**job, "fairness_key": "tenant:acme"}, headers=acme)
        assert same.status_code == 202
        other = await client.post("/v1/jobs", json={**job, "fairness_key": "tenant:zeta"}, headers=acme)
        assert other.status_code == 403 and "tenant:acme" in other.json()["detail"]
        batch = await client.post(
            "/v1/jobs/batch", json={"jobs": [job, {**job, "fairness_key": "tenant:zeta"}]}, headers=acme
        )
        assert [item["status"] for item in batch.json()["jobs"]] == [202, 403]
