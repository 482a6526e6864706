"""What the benchmarks share: submitting over HTTP, reading stamps back, percentiles, RSS, and the
raw aio-pika one-hop baseline that gives Laneyard's figures a meaning on any machine."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import httpx

from shared.store.database import Database, Doc
from tests.support.stack import Service

TERMINAL = ("COMPLETED", "ERROR", "CANCELLED")


def sizes(default: str) -> list[int]:
    return [int(x) for x in os.environ.get("LANEYARD_BENCH_SIZES", default).split(",") if x.strip()]


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def rss_mib(service: Service) -> float:
    if service.proc is None:
        return float("nan")
    try:
        for line in Path(f"/proc/{service.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


async def submit_all(url: str, bodies: list[dict[str, object]], clients: int = 32) -> tuple[list[str], float]:
    """Submits every body over HTTP with ``clients`` concurrent keep-alive clients."""
    ids: list[str] = [""] * len(bodies)
    next_index = 0
    started = time.monotonic()

    async def client_loop() -> None:
        nonlocal next_index
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while next_index < len(bodies):
                i, next_index = next_index, next_index + 1
                reply = await client.post("/v1/jobs", json=bodies[i])
                assert reply.status_code == 202, reply.text
                ids[i] = str(reply.json()["id"])

    await asyncio.gather(*(client_loop() for _ in range(clients)))
    return ids, time.monotonic() - started


async def submit_paced(url: str, bodies: list[dict[str, object]], rate: float) -> list[str]:
    """Submits at ``rate`` per second, each on its own (for latency at a given load)."""
    ids: list[str] = []
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        pending: set[asyncio.Task[httpx.Response]] = set()
        for i, body in enumerate(bodies):
            delay = started + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            pending.add(asyncio.create_task(client.post("/v1/jobs", json=body)))
        for reply in await asyncio.gather(*pending):
            assert reply.status_code == 202, reply.text
            ids.append(str(reply.json()["id"]))
    return ids


async def wait_all(db: Database, ids: list[str], within: float) -> dict[str, Doc]:
    deadline = time.monotonic() + within
    done: dict[str, Doc] = {}
    todo = list(ids)
    while todo and time.monotonic() < deadline:
        for k in range(0, len(todo), 1000):
            chunk = todo[k : k + 1000]
            async for d in db["jobs"].find({"_id": {"$in": chunk}}, {"args": 0}):
                if d["state"] in TERMINAL:
                    done[d["_id"]] = d
        todo = [i for i in todo if i not in done]
        if todo:
            await asyncio.sleep(1.0)
    return done


@dataclass
class Stamps:
    completed_at: list[float]
    submit_to_start: list[float]  # RUNNING - IN_QUEUE
    dispatch: list[float]  # WAITING - IN_QUEUE


def stamps(docs: dict[str, Doc]) -> Stamps:
    s = Stamps([], [], [])
    for d in docs.values():
        first = d["timeline"].get("1", {})
        last = d["timeline"][str(d["attempt"])]
        if "COMPLETED" in last:
            s.completed_at.append(float(last["COMPLETED"]))
        if "RUNNING" in first and "IN_QUEUE" in first:
            s.submit_to_start.append(float(first["RUNNING"]) - float(first["IN_QUEUE"]))
        if "WAITING" in first and "IN_QUEUE" in first:
            s.dispatch.append(float(first["WAITING"]) - float(first["IN_QUEUE"]))
    return s


async def raw_one_hop(amqp_url: str, queue_name: str, body: bytes, count: int, publishers: int = 32) -> float:
    """Jobs per second through one persistent, confirmed, acked hop with plain aio-pika."""
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        pub = await connection.channel(publisher_confirms=True)
        sub = await connection.channel()
        await sub.set_qos(prefetch_count=64)
        queue = await sub.declare_queue(queue_name, durable=True, arguments={"x-max-priority": 10})
        received = 0
        all_in = asyncio.Event()

        async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            nonlocal received
            await message.ack()
            received += 1
            if received >= count:
                all_in.set()

        await queue.consume(on_message)
        started = time.monotonic()
        sent = 0

        async def publisher() -> None:
            nonlocal sent
            while sent < count:
                sent += 1
                await pub.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, priority=5),
                    routing_key=queue_name,
                    timeout=60,
                )

        await asyncio.gather(*(publisher() for _ in range(publishers)))
        await asyncio.wait_for(all_in.wait(), 600)
        took = time.monotonic() - started
        await queue.delete(if_unused=False, if_empty=False)
    return count / took
