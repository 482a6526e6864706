"""A TLS-terminating TCP proxy: TLS on a free loopback port, plain bytes to a server behind it.

The embedded nx-27017 speaks no TLS; in front of it this lets a MongoDB client really do TLS
(``mongodb://127.0.0.1:PORT/?tls=true&tlsCAFile=...``), verifying the test CA's certificate as it
would a real mongod's. It runs on an event loop in a thread of its own, so sync tests, async tests
and services in other processes can all use it. Bounded: at most ``max_connections`` at once,
reads of 64 KiB, and a connection idle for ``idle_seconds`` is closed (the client reconnects).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from collections.abc import Iterator

from laneyard.shared.embedded.mongo import free_port
from tests.support.tls import Pair

CHUNK = 64 * 1024


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, idle: float) -> None:
    try:
        while data := await asyncio.wait_for(reader.read(CHUNK), idle):
            writer.write(data)
            await asyncio.wait_for(writer.drain(), idle)
    except (OSError, TimeoutError, ssl.SSLError):
        pass
    finally:
        writer.close()


class TlsProxy:
    def __init__(
        self,
        upstream: tuple[str, int],
        server: Pair,
        *,
        max_connections: int = 256,
        idle_seconds: float = 300.0,
        connect_timeout: float = 10.0,
    ) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.max_connections = max_connections
        self.idle_seconds = idle_seconds
        self.connect_timeout = connect_timeout
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(server.cert, server.key)
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failed: BaseException | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def _serve_one(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if len(self._connections) > self.max_connections:
            client_w.close()
            return
        try:
            server_r, server_w = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), self.connect_timeout
            )
        except (OSError, TimeoutError):
            client_w.close()
            return
        await asyncio.gather(
            _pump(client_r, server_w, self.idle_seconds), _pump(server_r, client_w, self.idle_seconds)
        )

    def _track(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.ensure_future(self._serve_one(reader, writer))
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            server = await asyncio.start_server(
                self._track, "127.0.0.1", self.port, ssl=self._context, ssl_handshake_timeout=10
            )
        except BaseException as exc:
            self._failed = exc
            self._ready.set()
            raise
        self._ready.set()
        async with server:
            await self._stop.wait()
            server.close()
            for task in list(self._connections):
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)

    def _run(self) -> None:
        try:
            # asyncio.run also ends the handshakes still under way when the proxy stops.
            asyncio.run(self._main())
        except BaseException as exc:  # reported by start(); a thread has no one else to tell
            self._failed = self._failed or exc

    def start(self, timeout: float = 10.0) -> int:
        self._thread = threading.Thread(target=self._run, name=f"tls-proxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout) or self._failed is not None:
            raise RuntimeError(f"the TLS proxy did not start on port {self.port}: {self._failed!r}")
        return self.port

    def stop(self, timeout: float = 10.0) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(timeout)


@contextlib.contextmanager
def tls_proxy(upstream: tuple[str, int], server: Pair) -> Iterator[TlsProxy]:
    proxy = TlsProxy(upstream, server)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()
