"""API keys: 401 without or with a bad key, 403 without the scope, admin implies every scope."""

from __future__ import annotations

import logging

import pytest

from laneyard.services.admission.auth import Auth, parse_api_keys
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store.database import Database
from tests.support.admission import api

KEYS = "sub-key-1:submit;read-key-2:read;admin-key-3:admin"
BODY = {"task": "demo.noop", "tier": "TINY"}


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def test_keys_and_scopes_guard_every_route(
    settings: Settings, db: Database, bus: Bus, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with api(settings, db, bus, api_keys=KEYS) as (client, _):
        none = await client.post("/v1/jobs", json=BODY)
        assert none.status_code == 401 and "Bearer" in none.json()["detail"]
        assert none.headers["www-authenticate"] == "Bearer"
        bad = await client.post("/v1/jobs", json=BODY, headers=bearer("sub-key-X"))
        assert bad.status_code == 401 and "not valid" in bad.json()["detail"]
        basic = await client.get("/v1/status", headers={"Authorization": "Basic c3ViOmtleQ=="})
        assert basic.status_code == 401

        made = await client.post("/v1/jobs", json=BODY, headers=bearer("sub-key-1"))
        assert made.status_code == 202
        job_id = made.json()["id"]
        denied = await client.get(f"/v1/jobs/{job_id}", headers=bearer("sub-key-1"))
        assert denied.status_code == 403 and "'read'" in denied.json()["detail"]
        assert (await client.get(f"/v1/jobs/{job_id}", headers=bearer("read-key-2"))).status_code == 200
        assert (await client.get("/v1/jobs", headers=bearer("read-key-2"))).status_code == 200
        assert (await client.post("/v1/jobs", json=BODY, headers=bearer("read-key-2"))).status_code == 403
        assert (
            await client.post(f"/v1/jobs/{job_id}/cancel", headers=bearer("read-key-2"))
        ).status_code == 403
        make_cluster = {"json": {"name": "x"}}
        assert (
            await client.post("/v1/clusters", **make_cluster, headers=bearer("read-key-2"))
        ).status_code == 403
        assert (
            await client.put("/v1/throttles/lanes/main", json={"rate": 5}, headers=bearer("sub-key-1"))
        ).status_code == 403

        admin = bearer("admin-key-3")
        assert (await client.get("/v1/status", headers=admin)).status_code == 200
        assert (await client.post("/v1/jobs", json=BODY, headers=admin)).status_code == 202
        assert (await client.post("/v1/clusters", **make_cluster, headers=admin)).status_code == 201
        assert (
            await client.put("/v1/throttles/lanes/main", json={"rate": 5}, headers=admin)
        ).status_code == 200

        for open_path in ("/healthz", "/docs", "/openapi.json"):
            assert (await client.get(open_path)).status_code == 200, open_path
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for key in ("sub-key-1", "read-key-2", "admin-key-3", "sub-key-X"):
        assert key not in logged


def test_an_open_api_is_announced_loudly(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        Auth(parse_api_keys("")).warn_if_open()
        Auth(parse_api_keys("k:read")).warn_if_open()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "OPEN" in warnings[0].getMessage()


def test_key_settings_are_checked_without_echoing_the_key() -> None:
    assert parse_api_keys(" a:submit,read ; b:admin ;") == {
        "a": frozenset({"submit", "read"}),
        "b": frozenset({"admin"}),
    }
    with pytest.raises(ValueError) as info:
        parse_api_keys("secret-value:write")
    assert "secret-value" not in str(info.value) and "write" in str(info.value)
    with pytest.raises(ValueError):
        parse_api_keys(":read")
