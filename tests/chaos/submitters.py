"""Clients that keep submitting while services die: a failed submission is retried, on the other
replica first, with the same idempotency key, so a retry can never become a second job."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx

RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Submissions:
    accepted: dict[str, str] = field(default_factory=dict)  # idempotency key -> job id
    duplicates: int = 0  # answered "duplicate": an earlier try had gone through
    retries: Counter[str] = field(default_factory=Counter)  # why a try was retried
    rejected: Counter[str] = field(default_factory=Counter)  # given up: status or "gave up"
    order: list[str] = field(default_factory=list)  # job ids in the order they were accepted


async def submit_one(
    client: httpx.AsyncClient,
    urls: list[str],
    body: dict[str, object],
    n: int,
    out: Submissions,
    until: float,
) -> None:
    key = str(body["idempotency_key"])
    attempt = 0
    while time.monotonic() < until:
        url = urls[(n + attempt) % len(urls)]
        attempt += 1
        try:
            reply = await client.post(f"{url}/v1/jobs", json=body)
        except httpx.HTTPError as exc:
            out.retries[type(exc).__name__] += 1
            await asyncio.sleep(0.2)
            continue
        if reply.status_code in (200, 202):
            data = reply.json()
            out.accepted[key] = str(data["id"])
            out.order.append(str(data["id"]))
            out.duplicates += bool(data.get("duplicate"))
            return
        if reply.status_code in RETRYABLE:
            out.retries[f"HTTP {reply.status_code}"] += 1
            await asyncio.sleep(min(2.0, float(reply.headers.get("Retry-After", "0.2"))))
            continue
        out.rejected[f"HTTP {reply.status_code}: {reply.text[:120]}"] += 1
        return
    out.rejected["gave up (time budget)"] += 1


async def submit_all(
    urls: list[str],
    bodies: list[dict[str, object]],
    out: Submissions,
    rate: float,
    until: float,
    clients: int = 16,
) -> None:
    """Submits ``bodies`` at no more than ``rate`` per second (so a small run still lasts long
    enough to see every kind of failure) from ``clients`` concurrent clients."""
    started = time.monotonic()
    next_index = 0

    async def worker(n: int, client: httpx.AsyncClient) -> None:
        nonlocal next_index
        while next_index < len(bodies) and time.monotonic() < until:
            i, next_index = next_index, next_index + 1
            if (wait := started + i / rate - time.monotonic()) > 0:
                await asyncio.sleep(wait)
            await submit_one(client, urls, bodies[i], n, out, until)

    async with httpx.AsyncClient(timeout=10) as client:
        await asyncio.gather(*(worker(n, client) for n in range(clients)))
    for body in bodies[next_index:]:
        out.rejected["not sent (time budget)"] += 1 if str(body["idempotency_key"]) not in out.accepted else 0
