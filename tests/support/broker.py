"""The broker as tests see it: counting messages, and removing what a test declared."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import aio_pika
import pytest

from laneyard.shared.amqp.topology import Names, delay_ladder
from laneyard.shared.settings import Settings


async def message_count(settings: Settings, queue: str) -> int | None:
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        channel = await connection.channel()
        try:
            declared = await channel.declare_queue(queue, passive=True)
        except aio_pika.exceptions.ChannelClosed:
            return None
        result = declared.declaration_result
        return int(result.message_count or 0) if result is not None else None
    finally:
        await connection.close()


async def delete_queues(settings: Settings, *names: str, exchanges: tuple[str, ...] = ()) -> None:
    """Deletes queues and exchanges, those that exist (e.g. what a test made beyond those
    ``delete_topology`` knows about)."""
    connection = await aio_pika.connect(settings.amqp_url, timeout=settings.network_timeout)
    try:
        for name in names:
            channel = await connection.channel()
            try:
                await channel.queue_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
        for name in exchanges:
            channel = await connection.channel()
            try:
                await channel.exchange_delete(name)
            except aio_pika.exceptions.ChannelClosed:
                pass
    finally:
        await connection.close()


async def delete_topology(settings: Settings, lanes: tuple[tuple[str, str], ...] = ()) -> None:
    """Removes this test's durable queues and exchanges so the broker does not fill up across runs."""
    names = Names(settings.prefix)
    queues = [names.submit_queue, names.dead_queue, names.cluster_queue("default")]
    queues += [names.delay_queue(ms) for ms in delay_ladder(settings.delay_min_ms, settings.delay_max_ms)]
    queues += [names.lane_queue(lane, "default") for lane in ("main", "logs", "other")]
    queues += [names.lane_queue(lane, cluster) for lane, cluster in lanes]
    exchanges = (
        names.submit_exchange, names.lanes_exchange, names.clusters_exchange, names.delay_exchange,
        names.dead_exchange, names.capacity_exchange, names.control_exchange,
    )  # fmt: skip
    await delete_queues(settings, *queues, exchanges=exchanges)


async def unacked(settings: Settings, queue: str) -> tuple[int, int] | None:
    """(ready, unacknowledged) messages of a queue, as the broker counts them (``rabbitmqctl``: the
    AMQP protocol tells a client only the ready count)."""
    del settings  # the local broker's vhost "/" holds every test's queues
    # None only when rabbitmqctl answered without the queue: a call that failed (it can, on a busy
    # machine) is made again rather than read as a missing queue.
    for _ in range(3):
        proc = await asyncio.create_subprocess_exec(
            "rabbitmqctl", "list_queues", "-q", "--formatter", "json", "name", "messages_ready",
            "messages_unacknowledged", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            env={**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"},
        )  # fmt: skip
        out, _ = await asyncio.wait_for(proc.communicate(), 60)
        try:
            rows = json.loads(out) if proc.returncode == 0 and out.strip() else None
        except ValueError:
            rows = None
        if rows is None:
            continue
        for row in rows:
            if row.get("name") == queue:
                return int(row["messages_ready"]), int(row["messages_unacknowledged"])
        return None
    raise RuntimeError("rabbitmqctl list_queues failed three times")


# rabbitmqctl lives in /usr/sbin, which a user's PATH may lack.
CTL_ENV = {**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}
# Held while a test has changed the broker's settings, so that two test runs doing it at once never
# read each other's temporary value as the one to restore.
BROKER_ENV_LOCK = Path(tempfile.gettempdir()) / "laneyard-broker-env.lock"


def rabbitmqctl_eval(expression: str) -> str:
    """Evaluates an Erlang expression on the local broker's node; its printed result."""
    done = subprocess.run(
        ["rabbitmqctl", "eval", expression], capture_output=True, text=True, timeout=60, env=CTL_ENV
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl eval {expression!r} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def _restore(key: str, previous: str) -> None:
    if previous == "undefined":
        rabbitmqctl_eval(f"application:unset_env(rabbit, {key}).")
    else:
        rabbitmqctl_eval(f"application:set_env(rabbit, {key}, {previous}).")


@contextlib.contextmanager
def broker_env(**values: int) -> Iterator[None]:
    """The local broker's ``rabbit`` application settings ``values`` for the block, and their
    previous values (or absence) restored however the block ends. Skips the test when
    ``rabbitmqctl`` cannot reach the broker."""
    if shutil.which("rabbitmqctl", path=CTL_ENV["PATH"]) is None:
        pytest.skip("rabbitmqctl is not installed: the broker's settings cannot be changed")
    with open(BROKER_ENV_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            previous: dict[str, str] = {}
            for key in values:
                try:
                    now = rabbitmqctl_eval(f"application:get_env(rabbit, {key}).")
                except (RuntimeError, subprocess.TimeoutExpired) as exc:
                    pytest.skip(f"cannot read the broker's {key}: {exc}")
                found = re.fullmatch(r"\{ok,(.+)\}", now)
                if found is None and now != "undefined":
                    raise RuntimeError(f"unexpected {key}: {now!r}")
                previous[key] = found[1] if found is not None else "undefined"
            try:
                for key, value in values.items():
                    rabbitmqctl_eval(f"application:set_env(rabbit, {key}, {int(value)}).")
                yield
            finally:
                failed = []
                for key, before in previous.items():
                    try:
                        _restore(key, before)
                    except (RuntimeError, subprocess.TimeoutExpired) as exc:
                        failed.append(f"{key} (was {before}): {exc}")
                if failed:
                    raise RuntimeError(f"could not restore the broker's settings: {failed}")
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.fixture
def consumer_timeout_10s() -> Iterator[int]:
    """The broker's consumer_timeout at 10 s for one test, restored after it. It applies to channels
    opened meanwhile, so start the services after. The broker checks it on each channel's tick,
    every ``channel_tick_interval`` (60 s by default, longer than a test's job), so that is 1 s too."""
    with broker_env(consumer_timeout=10_000, channel_tick_interval=1_000):
        yield 10_000


def _listed(kind: str) -> list[str]:
    """Names of the local broker's queues or exchanges (``rabbitmqctl``: AMQP cannot list them)."""
    try:
        done = subprocess.run(
            ["rabbitmqctl", f"list_{kind}", "-q", "name"], capture_output=True, text=True, timeout=60,
            env={**os.environ, "PATH": os.environ.get("PATH", "") + ":/usr/sbin"}, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in done.stdout.splitlines() if line.strip()] if done.returncode == 0 else []


async def sweep_tags(amqp_url: str, tags: frozenset[str]) -> int:
    """Deletes every queue and exchange named under one of ``tags`` on the local broker: what tests
    made up as they went (lanes, shards, intake and park queues) beyond what they cleaned up."""
    host = amqp_url.split("@")[-1].split(":")[0].split("/")[0]
    if not tags or host not in ("127.0.0.1", "localhost"):
        return 0
    prefixes = tuple(f"{tag}." for tag in tags)
    queues = [name for name in await asyncio.to_thread(_listed, "queues") if name.startswith(prefixes)]
    exchanges = [name for name in await asyncio.to_thread(_listed, "exchanges") if name.startswith(prefixes)]
    connection = await aio_pika.connect(amqp_url, timeout=10)
    try:
        channel = await connection.channel()
        for kind, names in (("queue", queues), ("exchange", exchanges)):
            for name in names:
                if channel.is_closed:
                    channel = await connection.channel()
                with contextlib.suppress(aio_pika.exceptions.AMQPError):
                    await asyncio.wait_for(getattr(channel, f"{kind}_delete")(name), 10)
    finally:
        await connection.close()
    return len(queues) + len(exchanges)
