"""What the fuzz tests (tests/property) share: how many cases to make, a live admission with keys, and
requests sent from addresses of their own.

``LANEYARD_FUZZ_EXAMPLES`` sets the number of cases per operation (per property for the AMQP
ingress); the default keeps the test suite's run short, ``make fuzz`` asks for many more.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage
from fastapi import FastAPI
from requests.adapters import HTTPAdapter

from laneyard.services.admission.http_api import create_app
from laneyard.shared.admitting.admit import Admitter
from laneyard.shared.amqp.bus import Bus
from laneyard.shared.amqp.topology import Names
from laneyard.shared.embedded.mongo import free_port
from laneyard.shared.settings import Settings
from laneyard.shared.store import intakes, lanes
from laneyard.shared.store.database import connect
from laneyard.shared.throttling import intake
from tests.support.broker import delete_queues, delete_topology
from tests.support.stack import Stack
from tests.support.tags import new_tag

ADMIN_KEY = "fuzz-admin-key"
READ_KEY = "fuzz-read-key"
SUBMIT_KEY = "fuzz-submit-key"
API_KEYS = f"{ADMIN_KEY}:admin;{READ_KEY}:read;{SUBMIT_KEY}:submit"


def examples(default: int) -> int:
    """The number of cases a fuzz test makes: ``LANEYARD_FUZZ_EXAMPLES``, else ``default``."""
    raw = os.environ.get("LANEYARD_FUZZ_EXAMPLES", "").strip()
    return int(raw) if raw else default


def openapi_app(settings: Settings) -> FastAPI:
    """Admission's app wired to no broker and no database: enough to describe itself, and to answer
    what is decided before any route runs (a 405, a 401)."""
    no_db: Any = None
    return create_app(Admitter(Bus(settings), no_db, settings.max_args_bytes), no_db, settings)


def openapi_document(settings: Settings) -> dict[str, Any]:
    """Admission's OpenAPI document as its app describes itself, there when pytest collects tests."""
    return openapi_app(settings).openapi()


@dataclass
class LiveAdmission:
    url: str
    stack: Stack
    document: dict[str, Any]
    cases: Counter[str] = field(default_factory=Counter)  # per operation
    requests: int = 0

    def summary(self) -> str:
        return (
            f"API fuzz: {len(self.cases)} operations, {sum(self.cases.values())} cases, "
            f"{self.requests} requests"
        )


@contextlib.contextmanager
def live_admission(settings: Settings, log_dir: Path) -> Iterator[LiveAdmission]:
    """A ``laneyard admission`` process (HTTP API and AMQP ingress) on real RabbitMQ and MongoDB,
    with an admin, a read-only and a submit-only key. Prints the end of its log if the block fails."""
    stack = Stack(settings.model_copy(update={"api_keys": API_KEYS}), log_dir)
    admission = stack.add("admission")
    try:
        stack.wait_ready()
        document = requests.get(f"{stack.url}/openapi.json", timeout=30).json()
        yield LiveAdmission(stack.url, stack, document)
    except BaseException:
        print(stack.tail(admission, 80))
        raise
    finally:
        stack.stop()
        asyncio.run(remove_what_admission_made(settings))


@pytest.fixture(scope="module")
def live_admission_of_module(
    amqp_url: str, mongo_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveAdmission]:
    """One live admission for a module's tests (Schemathesis makes one test per operation), with
    a queue prefix and database of its own."""
    tag = new_tag()
    settings = Settings(
        amqp_url=amqp_url, mongo_url=mongo_url, mongo_db=tag, prefix=tag, http_port=free_port()
    )
    with live_admission(settings, tmp_path_factory.mktemp("admission")) as live:
        yield live
        print(live.summary())


async def remove_what_admission_made(settings: Settings) -> None:
    """Drops the test's database and its queues, those of every lane and intake fuzzed into being."""
    client, db = connect(settings)
    try:
        names = Names(settings.prefix)
        queues = [names.lane_queue(d["lane"], d["cluster"]) for d in await lanes.all_lanes(db)]
        queues += [intake.queue_name(names, d["lane"], d["cluster"]) for d in await intakes.all_intakes(db)]
        await delete_queues(settings, *queues, exchanges=(intake.exchange_name(names),))
        await delete_topology(settings)
        await client.drop_database(settings.mongo_db)
    finally:
        await client.close()


class _FromAddress(HTTPAdapter):
    """Connects from one local address: admission counts failed authentications per address."""

    def __init__(self, address: str) -> None:
        self._address = address
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self._address, 0)
        super().init_poolmanager(*args, **kwargs)


class FreshAddresses:
    """Sessions each connecting from a loopback address not used before in this run (127.1.0.1,
    127.1.0.2, ...: any 127.x.y.z is this machine), so that a request meant to fail authentication
    is its address's first failure and never trips the per-address limit (which would answer 429 to
    every request after it)."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def session(self) -> Iterator[requests.Session]:
        with self._lock:
            n = next(self._numbers)
        address = f"127.{1 + (n >> 16) % 254}.{(n >> 8) & 255}.{n & 255}"
        session = requests.Session()
        session.mount("http://", _FromAddress(address))
        try:
            yield session
        finally:
            session.close()


def refusal_detail(status: int, content_type: str, body: bytes) -> str:
    """The message a 4xx answer carries, or an AssertionError saying what is wrong with it."""
    assert content_type.split(";")[0].strip() == "application/json", (status, content_type, body[:200])
    try:
        answer = json.loads(body)
    except ValueError as exc:
        raise AssertionError(f"{status} with a body that is not JSON: {body[:200]!r}") from exc
    assert isinstance(answer, dict) and answer.get("detail"), (status, body[:200])
    detail = answer["detail"]
    if isinstance(detail, list):
        assert all(isinstance(d, dict) and d.get("msg") for d in detail), (status, body[:200])
        return "; ".join(str(d["msg"]) for d in detail)
    assert isinstance(detail, str) and detail.strip(), (status, body[:200])
    return detail


async def drain(channel: AbstractChannel, queue: str, at_most: int = 1000) -> list[AbstractIncomingMessage]:
    """The messages waiting in ``queue`` now (taken off it), up to ``at_most``."""
    declared = await channel.get_queue(queue, ensure=False)
    taken: list[AbstractIncomingMessage] = []
    while len(taken) < at_most:
        message = await declared.get(no_ack=True, fail=False, timeout=10)
        if message is None:
            break
        taken.append(message)
    return taken
