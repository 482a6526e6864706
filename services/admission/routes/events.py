"""``GET /v1/events``: job state changes as Server-Sent Events (docs/events.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query

from laneyard.services.admission.errors import Rejected
from laneyard.services.admission.events import sse
from laneyard.services.admission.events.filters import EventFilter
from laneyard.services.admission.events.service import EventService
from laneyard.services.admission.events.stream import EventStream, frames
from laneyard.services.admission.grants import Grant
from laneyard.services.admission.refusal_docs import refusals
from laneyard.services.admission.routes import Context
from laneyard.services.admission.routes.jobs import parse_labels

MAX_VALUES = 100  # values of one filter
STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "one event per state change, its `id:` the event's number (docs/events.md)",
        # Before OpenAPI 3.2 (itemSchema), the schema of an event stream describes each event.
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "event": {"type": "string"},
                        "id": {"type": "string"},
                        "data": {"type": "string"},
                        "retry": {"type": "integer"},
                    },
                }
            }
        },
    }
}


def router(ctx: Context, service: EventService) -> APIRouter:
    api = APIRouter(prefix="/v1/events", tags=["events"])
    as_reader = Depends(ctx.auth.require("read"))

    def values(name: str, given: list[str]) -> frozenset[str]:
        if len(given) > MAX_VALUES:
            raise Rejected(400, f"at most {MAX_VALUES} values of {name}, got {len(given)}")
        return frozenset(given)

    @api.get("", status_code=200, response_class=EventStream, responses={**STREAM_DOC, **refusals(400)})
    async def events(
        lane: Annotated[list[str], Query(description="only these lanes; repeat for several")] = [],  # noqa: B006
        cluster: Annotated[list[str], Query(description="only these clusters")] = [],  # noqa: B006
        task: Annotated[list[str], Query(description="only these tasks")] = [],  # noqa: B006
        job_id: Annotated[list[str], Query(description="only these jobs")] = [],  # noqa: B006
        label: Annotated[list[str], Query(description="key:value; every one must match")] = [],  # noqa: B006
        follow: Annotated[bool, Query(description="false: end the stream once caught up")] = True,
        last_event_id: Annotated[
            str | None, Query(description="resume after this event, for clients that cannot send the header")
        ] = None,
        last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID")] = None,
        grant: Grant = as_reader,
    ) -> EventStream:
        """Job state changes as they happen, oldest first. Without Last-Event-ID the stream starts
        at the present; with it, right after that event, if it is still within the retention
        window (else an ``event: reset`` says where it carries on)."""
        which = EventFilter(
            grant, values("lane", lane), values("cluster", cluster), values("task", task),
            values("job_id", job_id), parse_labels(label),
        )  # fmt: skip
        refusal = which.refusal()
        if refusal is not None:
            raise Rejected(403, refusal)
        try:
            after = sse.parse_last_event_id(last_event_id_header or last_event_id)
        except ValueError as exc:
            raise Rejected(400, str(exc)) from exc
        give_back = service.take_slot()
        chunks = _stream(service, which, after, follow)
        send_timeout = 2 * service.settings.events_keepalive_seconds
        return EventStream(chunks, send_timeout=send_timeout, on_close=give_back)

    return api


async def _stream(
    service: EventService, which: EventFilter, after: int | None, follow: bool
) -> AsyncIterator[bytes]:
    async with service.feed.following():
        start = service.feed.last if after is None else after
        keepalive = service.settings.events_keepalive_seconds
        async for chunk in frames(service.feed, which, start, keepalive=keepalive, follow=follow):
            yield chunk
