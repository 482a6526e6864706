"""A webhook receiver for tests: an HTTP server on 127.0.0.1 (a free port) that records every request
and answers 200, or 500 for the next ``fail`` requests."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

MAX_HEAD = 64 * 1024
MAX_BODY = 4 * 1024 * 1024


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes


@dataclass
class Receiver:
    port: int = 0
    fail: int = 0  # answer 500 to this many requests, then 200
    requests: list[Received] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def wait_for(self, count: int) -> list[Received]:
        """Waits until ``count`` requests have arrived (callers bound the wait with asyncio.timeout)."""
        while len(self.requests) < count:
            self.arrived.clear()
            await self.arrived.wait()
        return self.requests

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                if len(head) > MAX_HEAD:
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, sep, value = line.partition(":")
                    if sep:
                        headers[name.strip().lower()] = value.strip()
                length = min(int(headers.get("content-length", "0")), MAX_BODY)
                body = await reader.readexactly(length)
            status = 500 if self.fail > 0 else 200
            self.fail = max(0, self.fail - 1)
            self.requests.append(Received(method, path, headers, body))
            self.arrived.set()
            reply = b"failing on purpose" if status == 500 else b"ok"
            writer.write(
                f"HTTP/1.1 {status} X\r\ncontent-length: {len(reply)}\r\nconnection: close\r\n\r\n".encode()
                + reply
            )
            await writer.drain()
        except (TimeoutError, ValueError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


@contextlib.asynccontextmanager
async def receiver(fail: int = 0) -> AsyncIterator[Receiver]:
    got = Receiver(fail=fail)
    server = await asyncio.start_server(got.handle, "127.0.0.1", 0)
    got.port = server.sockets[0].getsockname()[1]
    try:
        yield got
    finally:
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 5)
