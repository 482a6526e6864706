"""How many messages wait in named queues, by passive declare on a channel of its own.

A passive declare of a missing queue closes its channel, which must never be the publishing one.
"""

from __future__ import annotations

import asyncio

from aio_pika.abc import AbstractChannel
from aio_pika.exceptions import ChannelClosed

from laneyard.shared.amqp.bus import Bus


async def depths(bus: Bus, names: list[str]) -> dict[str, int | None]:
    """Messages ready in each queue; None for a queue that does not exist."""
    timeout = bus.settings.network_timeout
    out: dict[str, int | None] = {}
    channel: AbstractChannel | None = None
    try:
        for name in names:
            if channel is None or channel.is_closed:
                channel = await asyncio.wait_for(bus.connection.channel(), timeout)
            try:
                queue = await asyncio.wait_for(channel.declare_queue(name, passive=True), timeout)
            except ChannelClosed:
                out[name] = None
                continue
            result = queue.declaration_result
            out[name] = int(result.message_count or 0) if result is not None else None
    finally:
        if channel is not None and not channel.is_closed:
            await channel.close()
    return out
