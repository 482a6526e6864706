"""The console's pages in-process: rendered from the store under the key's grant, changes refused
without the session's CSRF token or the scope, bad input a 4xx with a message."""

from __future__ import annotations

import re

import httpx

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.admission import api

KEYS = "admin-key:admin;reader-key:read;tenant-key:submit,read lanes=reports"


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text[:500]
    return found.group(1)


async def sign_in(client: httpx.AsyncClient, key: str) -> None:
    login = await client.get("/ui/login")
    reply = await client.post("/ui/login", data={"csrf": csrf_of(login), "key": key})
    assert reply.status_code == 303, reply.text


async def test_open_console_lists_jobs_and_cancels_through_the_lifecycle(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus) as (client, _):
        job = (await client.post("/v1/jobs", json={"task": "demo.sleep", "labels": {"team": "a"}})).json()
        overview = await client.get("/ui")
        assert overview.status_code == 200 and "Lanes" in overview.text
        listing = await client.get("/ui/jobs", params={"label": "team:a", "state": "IN_QUEUE"})
        assert listing.status_code == 200 and job["id"][:12] in listing.text
        assert job["id"][:12] not in (await client.get("/ui/jobs", params={"task": "other.task"})).text
        page = await client.get(f"/ui/jobs/{job['id']}")
        assert page.status_code == 200 and 'id="cancel"' in page.text
        # Without the session's token a change is refused, whatever the page says.
        forged = await client.post(f"/ui/jobs/{job['id']}/cancel", data={"csrf": "forged"})
        assert forged.status_code == 403
        done = await client.post(f"/ui/jobs/{job['id']}/cancel", data={"csrf": csrf_of(page)})
        assert done.status_code == 303, done.text
        assert (await client.get(f"/v1/jobs/{job['id']}")).json()["state"] == "CANCELLED"
        retried = await client.post(
            f"/ui/jobs/{job['id']}/retry", data={"csrf": csrf_of(page), "nonce": "n1"}
        )
        assert retried.status_code == 303
        new_id = retried.headers["location"].split("/")[-1].split("?")[0]
        new = (await client.get(f"/v1/jobs/{new_id}")).json()
        assert new["replay_of"] == job["id"] and new["task"] == "demo.sleep"
        again = await client.post(f"/ui/jobs/{job['id']}/retry", data={"csrf": csrf_of(page), "nonce": "n1"})
        assert again.headers["location"].startswith(f"/ui/jobs/{new_id}")  # a double click: one job


async def test_bad_input_is_a_4xx_with_a_message(settings: Settings, db: Database, bus: Bus) -> None:
    async with api(settings, db, bus) as (client, _):
        for params in ({"state": "NOPE"}, {"label": "no-colon"}, {"cursor": "%%%"}, {"range": "1y"}):
            reply = await client.get("/ui/jobs", params=params)
            assert reply.status_code == 400 and "Refused" in reply.text, (params, reply.status_code)
        assert (await client.get("/ui/jobs", params={"cursor": "abc"})).status_code == 400
        assert (await client.get("/ui/jobs/nope")).status_code == 404
        assert (await client.get("/ui/jobs", params={"id": "nope"})).status_code == 404
        assert (await client.get("/ui/partials/jobs/nope/log", params={"after": "x"})).status_code == 404
        page = await client.get("/ui/clusters")
        bad = await client.post(
            "/ui/rates", data={"csrf": csrf_of(page), "kind": "lane", "name": "m", "rate": "x"}
        )
        assert bad.status_code == 400 and "not a number" in bad.text
        huge = await client.post("/ui/clusters", content=b"a" * 20_000)
        assert huge.status_code in (400, 413)
        not_text = await client.post("/ui/logout", content=b"csrf=\xff\xfe")
        assert not_text.status_code == 400 and "not UTF-8" in not_text.text


async def test_keys_a_read_key_sees_no_cancel_and_is_refused_on_the_server(
    settings: Settings, db: Database, bus: Bus
) -> None:
    async with api(settings, db, bus, api_keys=KEYS) as (client, _):
        headers = {"Authorization": "Bearer admin-key"}
        job = (await client.post("/v1/jobs", json={"task": "demo.sleep"}, headers=headers)).json()
        theirs = (
            await client.post("/v1/jobs", json={"task": "demo.sleep", "lane": "reports"}, headers=headers)
        ).json()
        assert (await client.get("/ui")).status_code == 303  # to the login page
        assert (await client.get("/ui/partials/jobs", headers={"HX-Request": "true"})).status_code == 401
        login = await client.get("/ui/login")
        wrong = await client.post("/ui/login", data={"csrf": csrf_of(login), "key": "nope"})
        assert wrong.status_code == 401 and "not valid" in wrong.text
        await sign_in(client, "reader-key")
        cookie = client.cookies.get("laneyard_console")
        assert cookie and "reader-key" not in cookie
        page = await client.get(f"/ui/jobs/{job['id']}")
        assert page.status_code == 200 and 'id="cancel"' not in page.text
        refused = await client.post(f"/ui/jobs/{job['id']}/cancel", data={"csrf": csrf_of(page)})
        assert refused.status_code == 403
        assert (await client.get(f"/v1/jobs/{job['id']}", headers=headers)).json()["state"] != "CANCELLED"

        await sign_in(client, "tenant-key")
        listing = (await client.get("/ui/jobs")).text
        assert theirs["id"][:12] in listing and job["id"][:12] not in listing
        assert (await client.get(f"/ui/jobs/{job['id']}")).status_code == 404
        assert (await client.get("/ui/jobs", params={"lane": "main"})).status_code == 400
