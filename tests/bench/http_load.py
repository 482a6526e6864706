"""A lean HTTP/1.1 keep-alive client for generating load: JSON POSTs on raw asyncio streams.

httpx spent more CPU per request than the admission service it was measuring (59% of a core
against admission's 25% at 176 requests/s, mostly in its connection pool's bookkeeping), and the
two share the machine's two cores. This client does one thing: POST a JSON body on a connection
it keeps, read the status line, the headers and a Content-Length body.

Kept on purpose, for the raw throughput workload only (the bursts of ``harness.submit_all``), where
the client's own cost would otherwise be what is measured. Everything else the benchmarks and the
chaos run do (latency runs, waiting for jobs, reading them, status) goes through the public client,
``laneyard.client.AsyncClient``, as an application would.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Reply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Connection:
    def __init__(self, url: str, timeout: float = 60.0) -> None:
        parts = urlsplit(url)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            opening = asyncio.open_connection(self.host, self.port)
            reader, writer = await asyncio.wait_for(opening, self.timeout)
            self._reader, self._writer = reader, writer
            return reader, writer
        return self._reader, self._writer

    async def post(self, path: str, payload: object) -> Reply:
        body = json.dumps(payload, separators=(",", ":")).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        for tries_left in (1, 0):
            reused = self._writer is not None
            reader, writer = await self._open()
            writer.write(head + body)
            try:
                return await asyncio.wait_for(self._read_reply(reader), self.timeout)
            except asyncio.IncompleteReadError as exc:
                await self.close()
                # The server closed a keep-alive connection that sat idle (uvicorn does after 5 s)
                # before reading this request: nothing was sent back, so it was not handled.
                if not (reused and not exc.partial and tries_left):
                    raise
            except BaseException:
                await self.close()
                raise
        raise AssertionError("unreachable")

    async def _read_reply(self, reader: asyncio.StreamReader) -> Reply:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length = 0
        close = False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                raise RuntimeError("chunked replies are not supported by this load client")
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        body = await reader.readexactly(length)
        if close:
            await self.close()
        return Reply(status, body)

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 5)
            except (OSError, TimeoutError):
                pass
