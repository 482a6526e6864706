"""API keys: 401 without or with a bad key, 403 without the scope, admin implies every scope."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from laneyard.services.admission.auth import Auth, load_keys, new_key, parse_api_keys, parse_key_file
from laneyard.services.admission.grants import Grant
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
        Auth(load_keys("", None)).warn_if_open()
        Auth(load_keys("k:read", None)).warn_if_open()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "OPEN" in warnings[0].getMessage()


def test_key_settings_are_checked_without_echoing_the_key() -> None:
    assert parse_api_keys(" a:submit,read ; b:admin ;") == {
        "a": Grant(frozenset({"submit", "read"})),
        "b": Grant(frozenset({"admin"})),
    }
    with pytest.raises(ValueError) as info:
        parse_api_keys("secret-value:write")
    assert "secret-value" not in str(info.value) and "write" in str(info.value)
    with pytest.raises(ValueError):
        parse_api_keys(":read")


async def test_hashed_keys_from_a_file_made_by_laneyard_keys_new(
    settings: Settings, db: Database, bus: Bus, tmp_path: Path
) -> None:
    made = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "laneyard.services.cli", "keys", "new", "--scopes", "read"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    printed = dict(line.split(": ", 1) for line in made.stdout.strip().splitlines())
    key, line = printed["key"].strip(), printed["line"].strip()
    assert line.startswith("sha256:") and key not in line
    keys_file = tmp_path / "keys"
    keys_file.write_text(f"# readers\n{line}\n\n")
    async with api(settings, db, bus, api_keys_file=str(keys_file)) as (client, _):
        assert (await client.get("/v1/status", headers=bearer(key))).status_code == 200
        assert (await client.get("/v1/status", headers=bearer(key + "x"))).status_code == 401
        denied = await client.post("/v1/jobs", json=BODY, headers=bearer(key))
        assert denied.status_code == 403
    assert (tmp_path / "keys").read_text().count(key) == 0


def test_a_bad_key_file_line_is_refused_without_echoing_it() -> None:
    good = "sha256:" + "ab" * 32 + " submit,read"
    assert list(parse_key_file(f"{good}  # a comment\n").values()) == [Grant(frozenset({"submit", "read"}))]
    for bad in ("my-plain-secret read", "sha256:" + "ab" * 32 + " write", "sha256:abc read"):
        with pytest.raises(ValueError) as info:
            parse_key_file(bad)
        assert "line 1" in str(info.value) and "my-plain-secret" not in str(info.value)
    with pytest.raises(ValueError):
        new_key(Grant(frozenset({"root"})))
    key, line = new_key(Grant(frozenset({"admin"})))
    assert len(key) > 40 and load_keys("", None) == {} and line.endswith(" admin")


async def test_an_address_that_keeps_failing_is_rate_limited_and_counted(
    settings: Settings, db: Database, bus: Bus
) -> None:
    before = REGISTRY.get_sample_value("laneyard_auth_failures_total", {"reason": "invalid"}) or 0.0
    async with api(settings, db, bus, api_keys=KEYS) as (client, _):
        for i in range(20):
            bad = await client.get("/v1/status", headers=bearer(f"guess-{i}"))
            assert bad.status_code == 401
        held = await client.get("/v1/status", headers=bearer("read-key-2"))
        assert held.status_code == 429 and "too many failed authentications" in held.json()["detail"]
        assert int(held.headers["retry-after"]) >= 1
    after = REGISTRY.get_sample_value("laneyard_auth_failures_total", {"reason": "invalid"}) or 0.0
    assert after - before == 20
    limited = REGISTRY.get_sample_value("laneyard_auth_failures_total", {"reason": "rate_limited"})
    assert limited is not None and limited >= 1
