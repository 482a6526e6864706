"""The event stream (``GET /v1/events``) for both clients: its query, and reading its lines.

Reading is a pure state machine fed one line at a time (the text/event-stream format): it yields
the events, and remembers the last event number the server sent (also the positions it sends past
events the filters left out), which a reconnect passes back as ``Last-Event-ID`` so that nothing is
missed or repeated.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx

from laneyard.client.calls import Params
from laneyard.shared.views.events import Event

log = logging.getLogger("laneyard.client")

PATH = "/v1/events"
# Longer than the server's keep-alive comments (15 s), so a quiet stream is not taken for a dead one.
READ_TIMEOUT = 45.0


def _many(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def query(
    *,
    lane: str | Sequence[str] | None = None,
    cluster: str | Sequence[str] | None = None,
    task: str | Sequence[str] | None = None,
    job_id: str | Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
    follow: bool = True,
) -> Params:
    params: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in (("lane", lane), ("cluster", cluster), ("task", task), ("job_id", job_id)):
        params.extend((name, v) for v in _many(value))
    params.extend(("label", f"{k}:{v}") for k, v in (labels or {}).items())
    if not follow:
        params.append(("follow", "false"))
    return params


def timeout(connect: float) -> httpx.Timeout:
    return httpx.Timeout(connect, read=READ_TIMEOUT)


@dataclass
class Reader:
    """Turns the stream's lines into events; ``last_id`` is where a reconnect resumes."""

    last_id: int | None = None
    retry_ms: int | None = None
    _data: list[str] = field(default_factory=list)
    _event: str = ""
    _id: str | None = None

    def line(self, text: str) -> Event | None:
        """Feeds one line (without its line break); returns an event when one is complete."""
        if text == "":
            return self._dispatch()
        if text.startswith(":"):
            return None
        name, _, value = text.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> Event | None:
        data, kind, number = "\n".join(self._data), self._event, self._id
        self._data, self._event, self._id = [], "", None
        if number is not None and number.isdigit():
            self.last_id = int(number)
        if not data:
            return None
        if kind == "reset":
            log.warning("event stream: some events were not available: %s", _reason(data))
            return None
        if kind not in ("", "message"):
            return None
        return Event.model_validate_json(data)


def _reason(data: str) -> str:
    try:
        return str(json.loads(data).get("reason"))
    except (ValueError, AttributeError):
        return data[:200]
