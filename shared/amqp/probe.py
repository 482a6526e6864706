"""Whether exchanges and queues exist, found out by passive declares, which need no permission.

A passive declare of something missing closes its channel, so probes run on channels of their own,
never on one a service publishes or consumes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence

from aio_pika.abc import AbstractChannel, AbstractConnection
from aio_pika.exceptions import ChannelClosed

log = logging.getLogger(__name__)

POLL_SECONDS = 0.2


class NotDeclared(RuntimeError):
    """What a service waited for was not declared in time."""


async def missing(
    connection: AbstractConnection, exchanges: Sequence[str], queues: Sequence[str], bound: float
) -> list[str]:
    """The names of ``exchanges`` and ``queues`` that do not exist; ``bound`` limits each await."""
    absent: list[str] = []
    channel: AbstractChannel | None = None
    try:
        for is_queue, name in [(False, e) for e in exchanges] + [(True, q) for q in queues]:
            if channel is None:
                channel = await asyncio.wait_for(connection.channel(), bound)
            try:
                if is_queue:
                    await asyncio.wait_for(channel.declare_queue(name, passive=True), bound)
                else:
                    await asyncio.wait_for(channel.get_exchange(name, ensure=True), bound)
            except ChannelClosed:
                absent.append(name)
                # The broker closed it; a robust channel may be reopening, which is not wanted here.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(channel.close(), bound)
                channel = None
    finally:
        if channel is not None and not channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(channel.close(), bound)
    return absent


async def wait_declared(
    connection: AbstractConnection,
    exchanges: Sequence[str],
    queues: Sequence[str],
    *,
    bound: float,
    within: float,
    declared_by: str,
) -> None:
    """Returns once every one of ``exchanges`` and ``queues`` exists; raises ``NotDeclared`` if
    some still do not after ``within`` seconds. ``declared_by`` says who is expected to declare them."""
    deadline = time.monotonic() + within
    said = False
    while absent := await missing(connection, exchanges, queues, bound):
        what = ", ".join(dict.fromkeys(absent))  # an exchange and its queue may share a name
        if time.monotonic() >= deadline:
            raise NotDeclared(f"{what} not declared after {within:.0f} s; {declared_by}")
        if not said:
            log.info("waiting for %s to be declared; %s", what, declared_by)
            said = True
        await asyncio.sleep(POLL_SECONDS)
