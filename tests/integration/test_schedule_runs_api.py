"""Running a schedule's job through the API: trigger (under the overlap policy, or allow), backfill
(one job per past fire time, de-duplicated with normal fires), and what GET shows of runs, skipped
fires and next fire times; a cron schedule in a time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store import jobs, schedules
from laneyard.shared.store.database import Database
from tests.support.admission import api

JOB = {"task": "demo.noop", "tier": "TINY", "args": {}}


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


async def test_trigger_obeys_the_overlap_policy_unless_told_to_allow(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        made = (await client.post("/v1/schedules", json={**JOB, "every": 3600})).json()
        assert made["overlap"] == "skip" and made["catch_up"] == "one" and len(made["next_fires"]) == 5
        sid = made["id"]
        first = await client.post(f"/v1/schedules/{sid}/trigger")
        assert first.status_code == 200, first.text
        job_id = first.json()["job_id"]
        assert first.json()["started"] is True
        job = await jobs.get(db, job_id)
        assert job is not None and job["labels"]["laneyard.run"] == "manual" and job["schedule_id"] == sid

        refused = await client.post(f"/v1/schedules/{sid}/trigger", json={})
        assert refused.status_code == 409 and job_id in refused.json()["detail"]
        forced = await client.post(f"/v1/schedules/{sid}/trigger", json={"overlap": "allow"})
        assert forced.status_code == 200 and forced.json()["job_id"] != job_id
        bad = await client.post(f"/v1/schedules/{sid}/trigger", json={"overlap": "sometimes"})
        assert bad.status_code == 422

        shown = (await client.get(f"/v1/schedules/{sid}")).json()
        assert [(r["kind"], r["state"]) for r in shown["runs"]] == [("manual", "IN_QUEUE")] * 2
        assert shown["skips"] == 1 and shown["skipped"][0]["kind"] == "manual"

        # cancel_other, asked for this once: the unfinished runs are cancelled, a new one starts.
        swap = await client.post(f"/v1/schedules/{sid}/trigger", json={"overlap": "cancel_other"})
        assert swap.status_code == 200 and set(swap.json()["cancelled"]) == {job_id, forced.json()["job_id"]}
        shown = (await client.get(f"/v1/schedules/{sid}")).json()
        assert [r["state"] for r in shown["runs"]] == ["CANCELLED", "CANCELLED", "IN_QUEUE"]

        # buffer_one: kept for when the run ends, once.
        kept = await client.post(f"/v1/schedules/{sid}/trigger", json={"overlap": "buffer_one"})
        assert kept.status_code == 200 and kept.json()["buffered"] is True and kept.json()["job_id"] is None
        assert (await client.get(f"/v1/schedules/{sid}")).json()["buffered_fire_at"] is not None
        again = await client.post(f"/v1/schedules/{sid}/trigger", json={"overlap": "buffer_one"})
        assert again.status_code == 409


async def test_backfill_runs_each_past_fire_time_once(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus) as (client, _):
        sid = (
            await client.post("/v1/schedules", json={**JOB, "cron": "0 * * * *", "overlap": "skip"})
        ).json()["id"]
        top = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
        body = {"from": iso(top - timedelta(hours=3, minutes=30)), "to": iso(top)}
        done = await client.post(f"/v1/schedules/{sid}/backfill", json=body)
        assert done.status_code == 200, done.text
        result = done.json()
        expected = [top - timedelta(hours=h) for h in (3, 2, 1, 0)]
        assert [datetime.fromisoformat(t) for t in result["fire_times"]] == expected
        assert result["duplicates"] == 0 and len(set(result["job_ids"])) == 4
        made = [await jobs.get(db, j) for j in result["job_ids"]]
        # Each covers its own hour: the fire time before it as last_completed_at.
        assert [m["last_completed_at"] for m in made if m] == [
            (t - timedelta(hours=1)).timestamp() for t in expected
        ]
        assert [m["idempotency_key"] for m in made if m] == [
            schedules.fire_key(sid, t.timestamp()) for t in expected
        ]
        # Again, overlapping: the same jobs, none new.
        again = (await client.post(f"/v1/schedules/{sid}/backfill", json=body)).json()
        assert again["job_ids"] == result["job_ids"] and again["duplicates"] == 4
        shown = (await client.get(f"/v1/schedules/{sid}")).json()
        assert [r["kind"] for r in shown["runs"]] == ["backfill"] * 4 and shown["fires"] == 4

        future = {"from": iso(top), "to": iso(top + timedelta(days=1))}
        assert (await client.post(f"/v1/schedules/{sid}/backfill", json=future)).status_code == 422
        huge = {"from": iso(top - timedelta(days=60)), "to": iso(top)}
        too_many = await client.post(f"/v1/schedules/{sid}/backfill", json=huge)
        assert too_many.status_code == 422 and "split it" in too_many.json()["detail"]
        backwards = {"from": iso(top), "to": iso(top - timedelta(hours=1))}
        assert (await client.post(f"/v1/schedules/{sid}/backfill", json=backwards)).status_code == 422
        assert (await client.post("/v1/schedules/nope/backfill", json=body)).status_code == 404


async def test_cron_in_a_zone_start_end_and_jitter(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus) as (client, _):
        start = datetime(2030, 3, 8, tzinfo=UTC)
        body = {
            **JOB, "cron": "30 2 * * *", "timezone": "America/New_York", "jitter": 30,
            "start_at": iso(start), "end_at": iso(start + timedelta(days=3, hours=12)),
        }  # fmt: skip
        made = (await client.post("/v1/schedules", json=body)).json()
        offset = made["jitter_offset"]
        assert 0 <= offset < 30 and made["timezone"] == "America/New_York"
        fires = [datetime.fromisoformat(t) - timedelta(seconds=offset) for t in made["next_fires"]]
        # 10 March 2030 is a spring-forward day in New York: 02:30 does not exist, it fires at 03:30.
        assert [f.isoformat() for f in fires] == [
            "2030-03-08T07:30:00+00:00",
            "2030-03-09T07:30:00+00:00",
            "2030-03-10T07:30:00+00:00",
            "2030-03-11T06:30:00+00:00",
        ]
        never = {**JOB, "every": 60, "end_at": "2020-01-01T00:00:00Z"}
        refused = await client.post("/v1/schedules", json=never)
        assert refused.status_code == 422 and "never fire" in refused.json()["detail"]
        after = (await client.post("/v1/jobs", json=JOB)).json()["id"]
        once = (await client.post("/v1/schedules", json={**JOB, "start_after": after})).json()
        assert (await client.post(f"/v1/schedules/{once['id']}/trigger")).status_code == 409
