"""One event stream: its frames, and the ASGI response that sends them.

A response of its own rather than Starlette's ``StreamingResponse`` (or sse-starlette, not a
dependency): every send is bounded by ``send_timeout``, so a client that stops reading is dropped
instead of holding its stream (and the frames behind it), and a disconnect ends the stream at once
even while it waits for events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from laneyard.services.admission.events import sse
from laneyard.services.admission.events.feed import Feed
from laneyard.services.admission.events.filters import EventFilter
from laneyard.shared.views.events import event_view

log = logging.getLogger(__name__)

RETRY_MS = 2000
HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # nginx: pass each event on as it comes
]


async def frames(
    feed: Feed, which: EventFilter, after: int, *, keepalive: float, follow: bool
) -> AsyncIterator[bytes]:
    """The stream after event number ``after``: events that pass ``which``, positions past those
    that do not, keep-alive comments; without ``follow`` it ends once caught up."""
    yield sse.retry(RETRY_MS)
    cursor = sent = after
    if after > feed.last:
        end = await feed.end()
        if after > end:  # not a number this log handed out (the database was replaced)
            note = f'{{"after": {end}, "reason": "Last-Event-ID {after} is past the end of the log"}}'
            yield sse.message(note, event_id=end, event="reset")
            cursor = sent = end
    while True:
        page = await feed.read(cursor)
        if page.skipped_to is not None:
            note = f'{{"after": {page.skipped_to}, "reason": "older events are past the retention window"}}'
            yield sse.message(note, event_id=page.skipped_to, event="reset")
            cursor = sent = page.skipped_to
            continue
        for doc in page.events:
            cursor = int(doc["_id"])
            if which.matches(doc):
                yield sse.message(event_view(doc).model_dump_json(), event_id=cursor)
                sent = cursor
        if page.events:
            continue
        if sent < cursor:
            yield sse.position(cursor)
            sent = cursor
        if not follow:
            return
        if not await feed.wait_beyond(cursor, keepalive):
            yield sse.comment("keep-alive")


class EventStream(Response):
    """The ASGI response of one stream."""

    media_type = "text/event-stream"

    def __init__(
        self, chunks: AsyncIterator[bytes], *, send_timeout: float, on_close: Callable[[], None]
    ) -> None:
        # Not Response.__init__: there is no body to render; FastAPI passes a Response on as is.
        self.status_code = 200
        self.background = None
        self.raw_headers = list(HEADERS)
        self.chunks = chunks
        self.send_timeout = send_timeout
        self.on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gone = asyncio.create_task(self._disconnected(receive), name="events-disconnect")
        try:
            start = {"type": "http.response.start", "status": 200, "headers": self.raw_headers}
            await asyncio.wait_for(send(start), self.send_timeout)
            while True:
                step = asyncio.ensure_future(anext(self.chunks))
                await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
                if not step.done():
                    step.cancel()
                    with contextlib.suppress(BaseException):
                        await step
                    return
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    break
                body = {"type": "http.response.body", "body": chunk, "more_body": True}
                await asyncio.wait_for(send(body), self.send_timeout)
            await asyncio.wait_for(
                send({"type": "http.response.body", "body": b"", "more_body": False}), self.send_timeout
            )
        except TimeoutError:
            log.info("dropped an event stream whose client stopped reading")
        except OSError:
            pass  # the client went away mid-send
        finally:
            self.on_close()
            gone.cancel()
            with contextlib.suppress(BaseException):
                await gone
            aclose = getattr(self.chunks, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()

    @staticmethod
    async def _disconnected(receive: Receive) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
