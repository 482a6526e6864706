"""Random and malformed bodies at POST /v1/jobs: every answer is 2xx or 4xx with a message, never 5xx.

The app is wired to a real Admitter, RabbitMQ and database. Hypothesis drives a synchronous test in a
worker thread, and each request runs on the test's event loop, where the bus and database live.
"""

from __future__ import annotations

import asyncio
import json
import string
from typing import Any

import httpx
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from laneyard.shared.amqp.bus import Bus
from laneyard.shared.settings import Settings
from laneyard.shared.store import lanes
from laneyard.shared.store.database import Database
from tests.support.admission import api
from tests.support.broker import delete_queues

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
slugish = st.text(string.ascii_lowercase + string.digits + "-_.", min_size=0, max_size=8) | json_scalars
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "task": st.sampled_from(["demo.noop", "x", "1bad", ""]) | json_scalars,
    "args": st.dictionaries(st.text(max_size=8), json_values, max_size=4) | json_values,
    "lane": st.sampled_from(["main", "other"]) | slugish,
    "cluster": st.sampled_from(["default", "missing"]) | slugish,
    "priority": st.integers(-3, 12) | json_scalars,
    "tier": st.sampled_from(["TINY", "SMALL", "LARGE", "HUGE", "tiny"]) | json_scalars,
    "max_execution_time": st.floats(allow_nan=True) | json_scalars,
    "max_retries": st.integers(-1, 101) | json_scalars,
    "retry_backoff": st.floats() | json_scalars,
    "idempotency_key": st.text(max_size=10) | json_scalars,
    "start_at": st.sampled_from(
        ["2030-01-01T00:00:00Z", "0001-01-01T00:00:00", "9999-12-31T23:59:59", "yesterday", "1e99"]
    )
    | st.integers()
    | st.floats(),
    "labels": st.dictionaries(st.text(max_size=70), json_values, max_size=3),
    "surprise": json_values,
}
# Mostly with a valid task, so that the other fields' checks are reached too.
submissions = st.fixed_dictionaries(
    {"task": st.just("demo.noop")}, optional={k: v for k, v in FIELDS.items() if k != "task"}
) | st.fixed_dictionaries({}, optional=FIELDS)
bodies = (
    submissions.map(lambda d: json.dumps(d).encode())
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=64)
    | st.sampled_from([b"", b"{", b"[]", b"null", b'{"task": "demo.noop", "args": NaN}', b"\xff\xfe"])
)


async def test_no_body_makes_admission_answer_5xx(settings: Settings, db: Database, bus: Bus) -> None:
    loop = asyncio.get_running_loop()
    async with api(settings, db, bus) as (client, _):

        def post(body: bytes) -> httpx.Response:
            request = client.post("/v1/jobs", content=body, headers={"content-type": "application/json"})
            return asyncio.run_coroutine_threadsafe(request, loop).result(timeout=60)

        @hypothesis_settings(
            max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
        )
        @given(body=bodies)
        def check(body: bytes) -> None:
            reply = post(body)
            assert 200 <= reply.status_code < 500, (reply.status_code, body, reply.text)
            answer = reply.json()
            if reply.status_code >= 400:
                assert answer["detail"], reply.text
            else:
                assert answer["id"] and answer["state"], reply.text

        await asyncio.to_thread(check)
    made = await lanes.all_lanes(db)
    await delete_queues(settings, *(bus.names.lane_queue(d["lane"], d["cluster"]) for d in made))
