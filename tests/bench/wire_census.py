"""Which database commands each service sends, how many documents they carry and how long the server
takes to answer them: ``LANEYARD_BENCH_CENSUS=1 make bench``.

Every service gets its own MongoDB URL pointing at a small proxy in the test process, which
forwards bytes unchanged and reads the OP_MSG headers on the way: the command name (the first key
of the body), the documents in a document sequence (a bulk write's inserts or updates), and the
time from a request to the reply that answers it. It adds a little latency, so a census run's
throughput is not a benchmark figure.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

OP_MSG = 2013
CHECKSUM_PRESENT = 1


def int32(buf: bytes, at: int) -> int:
    return int.from_bytes(buf[at : at + 4], "little", signed=True)


def cstring(buf: bytes, at: int) -> tuple[str, int]:
    end = buf.index(b"\0", at)
    return buf[at:end].decode(errors="replace"), end + 1


def parse_op_msg(msg: bytes) -> tuple[str, int]:
    """The command name and the number of documents in its document sequences."""
    end = len(msg) - (4 if int32(msg, 16) & CHECKSUM_PRESENT else 0)
    at, name, docs = 20, "?", 0
    while at < end:
        kind = msg[at]
        at += 1
        if kind == 0:
            size = int32(msg, at)
            name, _ = cstring(msg, at + 5) if size > 5 else ("?", 0)
            at += size
        else:
            size = int32(msg, at)
            _, doc_at = cstring(msg, at + 4)
            while doc_at < at + size:
                docs += 1
                doc_at += int32(msg, doc_at)
            at += size
    return name, docs


@dataclass
class Census:
    upstream: tuple[str, int]
    ops: Counter[tuple[str, str]] = field(default_factory=Counter)
    docs: Counter[tuple[str, str]] = field(default_factory=Counter)
    seconds: defaultdict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    servers: list[asyncio.Server] = field(default_factory=list)

    async def listen(self, service: str) -> int:
        """A port whose connections are counted as ``service``'s."""
        server = await asyncio.start_server(
            lambda r, w: self._serve(service, r, w), "127.0.0.1", 0, limit=1 << 24
        )
        self.servers.append(server)
        return int(server.sockets[0].getsockname()[1])

    async def _serve(self, service: str, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream, limit=1 << 24)
        sent: dict[int, tuple[str, float]] = {}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, requests: bool) -> None:
            with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
                while True:
                    header = await src.readexactly(16)
                    body = await src.readexactly(int32(header, 0) - 16)
                    dst.write(header + body)
                    msg = header + body
                    if requests:
                        name, docs = (
                            parse_op_msg(msg) if int32(msg, 12) == OP_MSG else (f"op{int32(msg, 12)}", 0)
                        )
                        self.ops[(service, name)] += 1
                        self.docs[(service, name)] += docs
                        sent[int32(msg, 4)] = (name, time.perf_counter())
                    elif (req := sent.pop(int32(msg, 8), None)) is not None:
                        self.seconds[(service, req[0])] += time.perf_counter() - req[1]
                    await dst.drain()
            dst.close()

        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    def clear(self) -> None:
        self.ops.clear()
        self.docs.clear()
        self.seconds.clear()

    def close(self) -> None:
        for server in self.servers:
            server.close()

    def lines(self, jobs: int) -> list[str]:
        """Per service and command: calls and documents per job, the mean time to the reply, and
        the total time the service waited for replies (requests overlap, so it can exceed the
        wall time)."""
        out = [
            f"{'service':<14}{'command':<16}{'calls/job':>10}{'docs/job':>10}{'ms/call':>9}{'waited s':>10}"
        ]
        for (service, name), n in sorted(self.ops.items(), key=lambda kv: -self.seconds[kv[0]]):
            s = self.seconds[(service, name)]
            out.append(
                f"{service:<14}{name:<16}{n / jobs:>10.2f}{self.docs[(service, name)] / jobs:>10.2f}"
                f"{1000 * s / n:>9.2f}{s:>10.1f}"
            )
        return out
