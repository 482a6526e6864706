"""Clients that keep submitting while services die, through the public client (``AsyncClient``), one
per admission replica: the client retries a failed try on its replica as its ``RetryPolicy`` says;
once it gives up (``Unavailable``) the job goes to the other replica, with the same idempotency key,
so a retry can never become a second job."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import httpx

from laneyard.client import AsyncClient
from laneyard.errors import LaneyardError, Unavailable
from tests.bench.harness import submit_body

# Answers of a try that a caller may make again: the client retries 429/502/503/504, and a 500 is
# sent to the other replica.
RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Submissions:
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> job id
    duplicates: int = 0  # answered "duplicate": an earlier try had gone through
    retries: Counter[str] = field(default_factory=Counter)  # tries that failed, by why
    failovers: int = 0  # a client gave up on its replica: the other one was tried
    rejected: Counter[str] = field(default_factory=Counter)  # given up: status or "gave up"
    order: list[str] = field(default_factory=list)  # job ids in the order they were accepted


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts, by kind, every try through it that failed in a way that is tried again (a connection
    or protocol error, or a 429/5xx answer): the client's retries happen above the transport, so
    each of them is seen here."""

    def __init__(self, counts: Counter[str]) -> None:
        self.counts = counts
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            response = await self.inner.handle_async_request(request)
        except httpx.TransportError as exc:
            self.counts[type(exc).__name__] += 1
            raise
        if response.status_code in RETRYABLE:
            self.counts[f"HTTP {response.status_code}"] += 1
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def counting_clients(urls: Sequence[str], out: Submissions) -> list[AsyncClient]:
    """One client per admission replica, its failed tries counted in ``out.retries``."""
    return [AsyncClient(url, transport=CountingTransport(out.retries)) for url in urls]


async def submit_one(
    clients: Sequence[AsyncClient],
    body: dict[str, object],
    n: int,
    out: Submissions,
    until: float,
) -> None:
    key = str(body["idempotency_key"])
    attempt = 0
    while (left := until - time.monotonic()) > 0:
        client = clients[(n + attempt) % len(clients)]
        attempt += 1
        try:
            job = await asyncio.wait_for(submit_body(client, body), left)
        except Unavailable:
            out.failovers += 1
            continue
        except TimeoutError:
            break
        except LaneyardError as exc:  # Refused or Unauthorized: the server said no to this job
            status = getattr(exc, "status", "?")
            out.rejected[f"HTTP {status}: {str(getattr(exc, 'message', exc))[:120]}"] += 1
            return
        out.accepted[key] = job.id
        out.order.append(job.id)
        out.duplicates += job.duplicate
        return
    out.rejected["gave up (time budget)"] += 1


async def submit_all(
    clients: Sequence[AsyncClient],
    bodies: list[dict[str, object]],
    out: Submissions,
    rate: float,
    until: float,
    workers: int = 16,
) -> None:
    """Submits ``bodies`` at no more than ``rate`` per second (so a small run still lasts long
    enough to see every kind of failure) from ``workers`` concurrent submitters, worker ``n``
    starting on replica ``n % len(clients)``."""
    started = time.monotonic()
    next_index = 0

    async def worker(n: int) -> None:
        nonlocal next_index
        while next_index < len(bodies) and time.monotonic() < until:
            i, next_index = next_index, next_index + 1
            if (wait := started + i / rate - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await submit_one(clients, bodies[i], n, out, until)

    await asyncio.gather(*(worker(n) for n in range(workers)))
    for body in bodies[next_index:]:
        out.rejected["not sent (time budget)"] += 1 if str(body["idempotency_key"]) not in out.accepted else 0
