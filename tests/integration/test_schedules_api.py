"""Schedules through the API: what a body must say, what is stored, pause/resume, delete, scopes."""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store import schedules
from laneyard.shared.store.database import Database
from tests.support.admission import api

JOB = {"task": "demo.noop", "tier": "TINY", "args": {"n": 1}, "labels": {"team": "etl"}}


def epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def fields_named(reply: Any) -> str:
    """The error detail as one string, whether a message or pydantic's list of errors."""
    detail = reply.json()["detail"]
    if isinstance(detail, str):
        return detail
    return " ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in detail)


async def test_create_each_kind_then_list_get_pause_resume_delete(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        before = time.time()
        every = await client.post("/v1/schedules", json={**JOB, "name": "tick", "every": 30})
        assert every.status_code == 201, every.text
        e = every.json()
        assert e["kind"] == "every" and e["every"] == 30 and e["name"] == "tick"
        assert e["paused"] is False and e["finished"] is False and e["fires"] == 0
        assert e["last_completed_at"] is None and e["last_job_id"] is None
        assert before + 30 <= epoch(e["next_run_at"]) <= time.time() + 30
        # The template is the job's fields, without the schedule's own.
        assert e["job"]["task"] == "demo.noop" and e["job"]["args"] == {"n": 1}
        assert e["job"]["labels"] == {"team": "etl"} and e["job"]["tier"] == "TINY"
        assert not {"every", "name", "idempotency_key", "start_at", "cron"} & set(e["job"])

        cron = (await client.post("/v1/schedules", json={**JOB, "cron": " 0  3 * * * "})).json()
        assert cron["kind"] == "cron" and cron["cron"] == "0 3 * * *"
        at = datetime.fromisoformat(cron["next_run_at"].replace("Z", "+00:00"))
        assert (at.hour, at.minute, at.second) == (3, 0, 0)

        job_id = (await client.post("/v1/jobs", json=JOB)).json()["id"]
        after = (await client.post("/v1/schedules", json={**JOB, "start_after": job_id})).json()
        assert (
            after["kind"] == "start_after" and after["start_after"] == job_id and after["on"] == "completed"
        )
        anyway = await client.post("/v1/schedules", json={**JOB, "start_after": job_id, "on": "any"})
        assert anyway.json()["on"] == "any"

        listed = (await client.get("/v1/schedules")).json()["schedules"]
        assert [s["id"] for s in listed] == [e["id"], cron["id"], after["id"], anyway.json()["id"]]
        assert (await client.get(f"/v1/schedules/{e['id']}")).json() == e

        # A schedule overdue when resumed carries on at its next tick: the paused period is not made up.
        paused = (await client.post(f"/v1/schedules/{e['id']}/pause")).json()
        assert paused["paused"] is True
        assert await schedules.due(db, time.time() + 3600, 100) != []
        assert e["id"] not in {d["_id"] for d in await schedules.due(db, time.time() + 3600, 100)}
        await db["schedules"].update_one({"_id": e["id"]}, {"$set": {"next_run_at": time.time() - 95}})
        resumed = (await client.post(f"/v1/schedules/{e['id']}/resume")).json()
        assert resumed["paused"] is False
        assert time.time() < epoch(resumed["next_run_at"]) <= time.time() + 30

        assert (await client.delete(f"/v1/schedules/{e['id']}")).status_code == 204
        for method, path in (
            ("GET", f"/v1/schedules/{e['id']}"),
            ("DELETE", f"/v1/schedules/{e['id']}"),
            ("POST", f"/v1/schedules/{e['id']}/pause"),
            ("POST", "/v1/schedules/nope/resume"),
        ):
            missing = await client.request(method, path)
            assert missing.status_code == 404 and "no schedule" in missing.json()["detail"], path
        assert len((await client.get("/v1/schedules")).json()["schedules"]) == 3


async def test_bad_bodies_are_refused_naming_the_field(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus, max_args_bytes=1000) as (client, _):
        cases: list[tuple[dict[str, Any], int, list[str]]] = [
            (JOB, 422, ["every, cron or start_after", "got none"]),
            ({**JOB, "every": 5, "cron": "* * * * *"}, 422, ["got every, cron"]),
            (
                {**JOB, "every": 5, "cron": "* * * * *", "start_after": "j"},
                422,
                ["got every, cron, start_after"],
            ),
            ({**JOB, "cron": "61 * * * *"}, 422, ["cron", "not a usable cron"]),
            ({**JOB, "cron": "0 0 30 2 *"}, 422, ["cron", "not a usable cron"]),
            ({**JOB, "cron": "* * * * * *"}, 422, ["cron", "5 fields"]),
            ({**JOB, "cron": 5}, 422, ["cron"]),
            ({**JOB, "every": 0}, 422, ["every"]),
            ({**JOB, "every": 0.5}, 422, ["every"]),
            ({**JOB, "every": "often"}, 422, ["every"]),
            ({**JOB, "every": 5, "idempotency_key": "k"}, 422, ["idempotency_key", "leave it out"]),
            ({**JOB, "every": 5, "start_at": "soon"}, 422, ["start_at"]),
            ({**JOB, "every": 5, "overlap": "queue_all"}, 422, ["overlap"]),
            ({**JOB, "cron": "0 * * * *", "timezone": "Mars/Olympus"}, 422, ["timezone", "IANA"]),
            ({**JOB, "every": 5, "timezone": "Europe/Paris"}, 422, ["timezone applies to cron"]),
            ({**JOB, "every": 5, "jitter": 7200}, 422, ["jitter"]),
            ({**JOB, "every": 5, "catch_up_limit": 5}, 422, ["catch_up_limit applies"]),
            ({**JOB, "every": 5, "catch_up": "all", "catch_up_limit": 0}, 422, ["catch_up_limit"]),
            ({**JOB, "start_after": "j", "overlap": "allow"}, 422, ["overlap apply to every and cron"]),
            (
                {**JOB, "every": 5, "start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"},
                422,
                ["end_at must be after start_at"],
            ),
            ({**JOB, "every": 5, "labels": {"laneyard.run": "x"}}, 422, ["the schedule's own"]),
            ({**JOB, "every": 5, "on": "any"}, 422, ["on applies to start_after"]),
            ({**JOB, "start_after": "j", "on": "sometimes"}, 422, ["on"]),
            ({**JOB, "start_after": "no-such-job"}, 422, ["start_after", "no-such-job"]),
            ({**JOB, "every": 5, "surprise": 1}, 422, ["surprise"]),
            ({**JOB, "every": 5, "priority": 12}, 422, ["priority"]),
            ({"every": 5}, 422, ["task"]),
            ({**JOB, "every": 5, "cluster": "nowhere"}, 404, ["nowhere"]),
            ({**JOB, "every": 5, "args": {"blob": "x" * 2000}}, 413, ["args", "1000"]),
        ]
        for body, status, words in cases:
            reply = await client.post("/v1/schedules", json=body)
            assert reply.status_code == status, (body, reply.text)
            said = fields_named(reply)
            for word in words:
                assert word in said, (body, said)
    assert await schedules.count(db) == 0


async def test_scopes_submit_to_change_read_to_look(settings: Settings, db: Database, bus: Bus) -> None:
    keys = "sub-key-1:submit;read-key-2:read"
    sub, read = ({"Authorization": f"Bearer {k}"} for k in ("sub-key-1", "read-key-2"))
    async with api(settings, db, bus, api_keys=keys) as (client, _):
        assert (await client.post("/v1/schedules", json={**JOB, "every": 5})).status_code == 401
        assert (await client.post("/v1/schedules", json={**JOB, "every": 5}, headers=read)).status_code == 403
        made = await client.post("/v1/schedules", json={**JOB, "every": 5}, headers=sub)
        assert made.status_code == 201
        sid = made.json()["id"]
        assert (await client.get("/v1/schedules", headers=sub)).status_code == 403
        assert (await client.get(f"/v1/schedules/{sid}", headers=read)).status_code == 200
        assert (await client.get("/v1/schedules", headers=read)).status_code == 200
        for action in ("pause", "resume"):
            assert (await client.post(f"/v1/schedules/{sid}/{action}", headers=read)).status_code == 403
            assert (await client.post(f"/v1/schedules/{sid}/{action}", headers=sub)).status_code == 200
        assert (await client.delete(f"/v1/schedules/{sid}", headers=read)).status_code == 403
        assert (await client.delete(f"/v1/schedules/{sid}", headers=sub)).status_code == 204
        spec = (await client.get("/openapi.json")).json()
        assert "/v1/schedules/{schedule_id}/resume" in spec["paths"]
